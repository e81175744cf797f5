/**
 * The gateway's own secrets taken out of a text bound for the operator's log, such as a request
 * path (a client may put its key where an id goes): a customer key of the configured `key_prefix`
 * or an earlier one (its random part is base62), a generated admin token (`tg-admin-…`), anything
 * shaped like an upstream key (`xai-…`, `sk-…`), and the configured admin token and upstream keys,
 * whatever their shape, however a client's URL spells them (as typed, or percent-encoded in any
 * way: the text is decoded, leniently, and logged decoded when a secret is in it).
 */
export function secretRedactor(c: Secrets): (text: string) => string {
  // Built once: the log redacts every request's path.
  const keys = keysOf(c.key_prefixes ?? [c.key_prefix]);
  const literals = [c.admin_token, ...(c.providers ?? []).flatMap((p) => p.api_keys ?? [])].filter((s): s is string => !!s && s.length >= 8);
  const plainly = (text: string): string => {
    let out = text.replace(keys, "[redacted]").replace(UPSTREAM_SHAPED, "[redacted]");
    for (const secret of literals) out = out.replaceAll(secret, "[redacted]");
    return out;
  };
  return (text) => {
    if (text.includes("%")) {
      // Decoded first: a key with an escape in its middle would otherwise leave its escaped tail.
      const decoded = lenientlyDecoded(text);
      const redacted = plainly(decoded);
      if (redacted !== decoded) return redacted;
    }
    return plainly(text);
  };
}

/** What is secret: keys of the configured prefix (or of each of `key_prefixes`, when given), the admin token, upstream keys. */
export interface Secrets {
  key_prefix: string;
  key_prefixes?: readonly string[];
  admin_token?: string;
  providers?: readonly { api_keys?: readonly string[] }[];
}

/** What upstream keys look like: taken out of logged paths here, and of upstream messages (gateway/providers/errors.ts). */
export const UPSTREAM_SHAPED = /\b(?:xai|sk|sk-proj|sk-ant)-[A-Za-z0-9_*.-]{3,}/g;

/** secretRedactor's work on one text (for a caller that redacts once). */
export const redactSecrets = (text: string, c: Secrets): string => secretRedactor(c)(text);

const utf8 = new TextDecoder();

/** Every run of valid `%XX` escapes as the UTF-8 it encodes (invalid bytes as U+FFFD); anything else as it is. */
function lenientlyDecoded(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    const bytes = new Uint8Array(run.length / 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(run.slice(i * 3 + 1, i * 3 + 3), 16);
    return utf8.decode(bytes);
  });
}

/** A key of a prefix, or a generated admin token: not inside a longer word (an id that merely contains a prefix stays readable). */
function keysOf(prefixes: readonly string[]): RegExp {
  const literals = prefixes.map((p) => p.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&"));
  return new RegExp(`(?<![A-Za-z0-9])(?:${[...literals, "tg-admin-"].join("|")})[A-Za-z0-9]{8,}`, "g");
}
