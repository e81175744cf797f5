/**
 * The gateway's own secrets taken out of a text bound for the operator's log, such as a request
 * path (a client may put its key where an id goes). Upstream keys are scrub's
 * (gateway/providers/errors.ts); here a customer key of the configured `key_prefix` (its random
 * part is base62), a generated admin token (`tg-admin-…`), and the configured admin token however
 * a client's URL spells it (as typed, or percent-encoded in any way: the text is decoded, leniently,
 * and logged decoded when the token is in it).
 */
export function redactSecrets(text: string, c: { key_prefix: string; admin_token?: string }): string {
  let out = text.replace(keysOf(c.key_prefix), "[redacted]");
  const token = c.admin_token;
  if (token) {
    for (const form of new Set([token, encodeURIComponent(token)])) out = out.replaceAll(form, "[redacted]");
    if (out.includes("%")) {
      const plain = lenientlyDecoded(out);
      if (plain.includes(token)) out = plain.replaceAll(token, "[redacted]");
    }
  }
  return out;
}

const utf8 = new TextDecoder();

/** Every run of valid `%XX` escapes as the UTF-8 it encodes (invalid bytes as U+FFFD); anything else as it is. */
function lenientlyDecoded(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    const bytes = new Uint8Array(run.length / 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(run.slice(i * 3 + 1, i * 3 + 3), 16);
    return utf8.decode(bytes);
  });
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
