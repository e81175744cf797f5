import type { Config } from "../config/load";

/**
 * What an operator should hear about at start: settings that load but cannot work as meant. One
 * line each; never a secret, only the names of the settings.
 */
export function startupWarnings(config: Config): string[] {
  const out: string[] = [];
  for (const p of config.providers) {
    if (!p.api_keys?.length && !p.api_key) {
      const how = p.id === "xai" ? "set XAI_API_KEY (or xai_api_key)" : `set api_key, api_key_env or api_key_file of provider ${p.id}`;
      out.push(`provider ${p.id} has no upstream API key: its models will fail until you ${how}`);
    }
  }
  if (config.stripe_webhook_secret && !config.stripe_webhook_secret.startsWith("whsec_")) {
    out.push("stripe_webhook_secret does not look like a Stripe webhook signing secret (whsec_...): every webhook will be refused");
  }
  if (config.stripe_secret_key && /^(sk|rk)_test_/.test(config.stripe_secret_key)) {
    out.push("stripe_secret_key is a test-mode key: payments are not real");
  }
  if (config.public_url?.startsWith("http:") && !/^http:\/\/(localhost|127\.0\.0\.1)(:|\/|$)/.test(config.public_url)) {
    out.push("public_url is not https: portal sign-in cookies are not marked Secure");
  }
  if (config.smtp_host && !config.public_url) {
    out.push("smtp_host is set without public_url: the portal shows invitation links for the owner to pass on instead of mailing them (a mailed link needs a base URL no request can choose)");
  }
  return out;
}
