import { readFileSync } from "node:fs";
import { ConfigError } from "./config-error";
import { HEADER_SECRET, type ProviderConfig } from "./schema";

/** An upstream key and the setting it came from: an error names the place, never the key. */
interface SourcedKey {
  key: string;
  from: string;
}

/**
 * A key list given as one string (an env var, a key file, xai_api_key): keys are separated by
 * commas or line breaks, blanks around each are forgiven. A blank inside stays, to be refused:
 * splitting on it turned `Bearer xai-…` into two keys, one of them "Bearer".
 */
export const splitKeys = (v: string | undefined): string[] =>
  (v ?? "")
    .split(/[,\r\n]+/)
    .map((k) => k.trim())
    .filter(Boolean);

const from = (source: string) => (key: string): SourcedKey => ({ key, from: source });

/** Every upstream key of a provider, from all the forms given, in order, each with where it was set. */
function sourcedKeys(p: ProviderConfig, env: Record<string, string | undefined>, xaiApiKey: string | undefined): SourcedKey[] {
  const keys = [...(p.api_keys ?? []).map(from(`providers.${p.id}.api_keys`)), ...(p.api_key ? [from(`providers.${p.id}.api_key`)(p.api_key)] : [])];
  if (p.api_key_env) keys.push(...splitKeys(env[p.api_key_env]).map(from(`env ${p.api_key_env}`)));
  if (p.api_key_file) {
    let text: string;
    try {
      text = readFileSync(p.api_key_file, "utf8");
    } catch {
      throw new ConfigError(`invalid config: providers.${p.id}.api_key_file: cannot read ${p.api_key_file}`);
    }
    keys.push(...splitKeys(text).map(from(`the file ${p.api_key_file}`)));
  }
  // The built-in provider's key is the top-level setting when the provider names none.
  if (keys.length === 0 && p.id === "xai") keys.push(...splitKeys(xaiApiKey).map(from("xai_api_key (env XAI_API_KEY)")));
  return keys;
}

/**
 * A provider's upstream keys without duplicates, and its extra headers, checked: they are sent as
 * HTTP headers, and a byte fetch refuses (a smart quote pasted with a key, a line break, a blank)
 * would fail every request as an unreachable upstream.
 */
export function upstreamKeys(p: ProviderConfig, env: Record<string, string | undefined>, xaiApiKey: string | undefined): string[] {
  const keys = [...new Map(sourcedKeys(p, env, xaiApiKey).map((k) => [k.key, k])).values()];
  const bad = keys.findIndex((k) => !HEADER_SECRET.test(k.key));
  if (bad >= 0) {
    throw new ConfigError(
      `invalid config: providers.${p.id}: upstream key ${bad + 1} has a character an HTTP header cannot carry (a space, a line break, a smart quote?), given in ${keys[bad]!.from}`,
    );
  }
  for (const [name, value] of Object.entries(p.headers)) {
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new ConfigError(`invalid config: providers.${p.id}.headers: ${JSON.stringify(name)} is not an HTTP header name`);
    if (!/^[\t\x20-\x7e]*$/.test(value)) throw new ConfigError(`invalid config: providers.${p.id}.headers.${name}: the value has a character an HTTP header cannot carry (a line break, a non-ASCII letter?)`);
  }
  return keys.map((k) => k.key);
}
