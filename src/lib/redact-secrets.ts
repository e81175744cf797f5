/**
 * The gateway's own secrets taken out of a text bound for the operator's log, such as a request
 * path (a client may put its key where an id goes). Upstream keys are scrub's
 * (gateway/providers/errors.ts); here a customer key of the configured `key_prefix` (its random
 * part is base62), a generated admin token (`tg-admin-…`), and the configured admin token however
 * a client's URL spells it (as typed, or percent-encoded in any way: each path segment is decoded).
 */
export function redactSecrets(text: string, c: { key_prefix: string; admin_token?: string }): string {
  let out = text.replace(keysOf(c.key_prefix), "[redacted]");
  const token = c.admin_token;
  if (token) {
    for (const form of new Set([token, encodeURIComponent(token)])) out = out.replaceAll(form, "[redacted]");
    if (out.includes("%")) out = out.split("/").map((s) => (decoded(s).includes(token) ? "[redacted]" : s)).join("/");
  }
  return out;
}

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
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
