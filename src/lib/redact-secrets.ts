/**
 * The gateway's own secrets taken out of a text bound for the operator's log, such as a request
 * path (a client may put its key where an id goes). Upstream keys are scrub's
 * (gateway/providers/errors.ts); here a customer key of the configured `key_prefix` (its random
 * part is base62), a generated admin token (`tg-admin-…`), and the configured admin token as typed
 * or percent-encoded, whatever it looks like.
 */
export function redactSecrets(text: string, c: { key_prefix: string; admin_token?: string }): string {
  let out = text.replace(keysOf(c.key_prefix), "[redacted]");
  if (c.admin_token) {
    for (const form of new Set([c.admin_token, encodeURIComponent(c.admin_token)])) out = out.replaceAll(form, "[redacted]");
  }
  return out;
}

// Built once per prefix: the log redacts every request's path.
let cached: { prefix: string; pattern: RegExp } | undefined;

function keysOf(prefix: string): RegExp {
  if (cached?.prefix !== prefix) {
    const literal = prefix.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&");
    // Not inside a longer word: an id that merely contains the prefix stays readable.
    cached = { prefix, pattern: new RegExp(`(?<![A-Za-z0-9])(?:${literal}|tg-admin-)[A-Za-z0-9]{8,}`, "g") };
  }
  return cached.pattern;
}
