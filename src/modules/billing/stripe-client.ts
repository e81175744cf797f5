import type Stripe from "stripe";
import type { Config } from "../../config/load";

export type StripeClient = Stripe;

/** The Stripe client for the configured keys, or null when payments are not configured. */
export function stripeFromConfig(config: Config): Stripe | null {
  if (!config.stripe_secret_key || !config.stripe_webhook_secret) return null;
  // Loaded on first use: the library is large (startup time, memory) and most gateways run without payments.
  const mod = require("stripe") as typeof Stripe | { default: typeof Stripe };
  const StripeCtor = "default" in mod ? mod.default : mod;
  return new StripeCtor(config.stripe_secret_key, {
    // Stripe honours Idempotency-Key on retries, so a retried create never opens two sessions.
    maxNetworkRetries: 2,
    timeout: 20_000,
    appInfo: { name: "Tollgate" },
    ...(config.stripe_api_host ? { host: config.stripe_api_host } : {}),
    ...(config.stripe_api_port ? { port: config.stripe_api_port } : {}),
    ...(config.stripe_api_protocol ? { protocol: config.stripe_api_protocol } : {}),
  });
}
