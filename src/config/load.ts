import { readFileSync } from "node:fs";
import { z } from "zod";
import { ConfigSchema, ENV_MAP, type ModelConfig, type ProviderConfig } from "./schema";

export interface Provider extends Omit<ProviderConfig, "api_key_env" | "api_key_file" | "kind"> {
  kind: "openai" | "xai";
}
export type Model = ModelConfig & { upstream_model: string; cached_input_price: number };

export type Config = Readonly<
  Omit<z.output<typeof ConfigSchema>, "providers" | "models"> & {
    providers: readonly Provider[];
    models: readonly Model[];
  }
>;

/** Thrown for bad configuration; the CLI prints its one-line message and exits 2. */
export class ConfigError extends Error {}

export interface LoadOptions {
  env?: Record<string, string | undefined>;
  /** Explicit config file (from --config); falls back to env TOLLGATE_CONFIG. */
  file?: string;
  /** Extra values that win over file and env (tests, CLI flags). */
  overrides?: Record<string, unknown>;
}

function readFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`config file ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  try {
    const parsed = path.endsWith(".toml") ? Bun.TOML.parse(text) : JSON.parse(text);
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
    return parsed as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(`config file ${path}: invalid ${path.endsWith(".toml") ? "TOML" : "JSON"} (${(e as Error).message})`);
  }
}

function formatIssue(issue: z.core.$ZodIssue, raw: Record<string, unknown>): string {
  const path = issue.path.map(String).join(".") || "(root)";
  const envName = Object.entries(ENV_MAP).find(([, f]) => f === issue.path[0])?.[0];
  const got = issue.path.length === 1 ? raw[String(issue.path[0])] : undefined;
  const source = envName ? ` (env ${envName})` : "";
  return `invalid config: ${path}${source}: ${issue.message}${got !== undefined ? ` (got ${JSON.stringify(got)})` : ""}`;
}

function resolveKey(p: ProviderConfig, env: Record<string, string | undefined>): string | undefined {
  if (p.api_key) return p.api_key;
  if (p.api_key_env) return env[p.api_key_env] || undefined;
  if (p.api_key_file) {
    try {
      return readFileSync(p.api_key_file, "utf8").trim() || undefined;
    } catch {
      throw new ConfigError(`invalid config: providers.${p.id}.api_key_file: cannot read ${p.api_key_file}`);
    }
  }
  return undefined;
}

export function defaultModels(): ModelConfig[] {
  const grok = { provider: "xai", input_price: 3_000_000, cached_input_price: 750_000, output_price: 15_000_000 };
  return [
    { id: "grok-4", upstream_model: "grok-4-0709", context_window: 256000, max_output_tokens: 32768, created: 1752019200, ...grok },
    { id: "grok-3", upstream_model: "grok-3", context_window: 131072, max_output_tokens: 32768, created: 1744243200, ...grok },
  ];
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? {};
  const file = opts.file ?? env.TOLLGATE_CONFIG;
  const raw: Record<string, unknown> = file ? readFile(file) : {};
  for (const [name, field] of Object.entries(ENV_MAP)) {
    const v = env[name];
    if (v !== undefined && v !== "") raw[field] = v;
  }
  Object.assign(raw, opts.overrides ?? {});

  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(formatIssue(parsed.error.issues[0]!, raw));
  const c = parsed.data;
  // Payments need both: a checkout whose webhook cannot be verified would never be credited.
  if (Boolean(c.stripe_secret_key) !== Boolean(c.stripe_webhook_secret)) {
    throw new ConfigError(
      `invalid config: ${c.stripe_secret_key ? "stripe_webhook_secret (env STRIPE_WEBHOOK_SECRET)" : "stripe_secret_key (env STRIPE_SECRET_KEY)"}: payments need both stripe_secret_key and stripe_webhook_secret`,
    );
  }
  if (c.topup_min > c.topup_max) throw new ConfigError("invalid config: topup_min: must not exceed topup_max");

  const providers: Provider[] = (c.providers ?? [{ id: "xai", base_url: c.xai_base_url, headers: {} }]).map((p) => {
    const { api_key_env: _e, api_key_file: _f, ...rest } = p;
    const api_key = resolveKey(p, env) ?? (p.id === "xai" ? c.xai_api_key : undefined);
    const kind = p.kind ?? (p.id === "xai" || /(^|\.)x\.ai$/.test(new URL(p.base_url).hostname) ? "xai" : "openai");
    return { ...rest, kind, base_url: rest.base_url.replace(/\/+$/, ""), api_key };
  });
  const ids = new Set<string>();
  for (const p of providers) {
    if (ids.has(p.id)) throw new ConfigError(`invalid config: providers: duplicate id ${JSON.stringify(p.id)}`);
    ids.add(p.id);
  }
  const models: Model[] = (c.models ?? defaultModels()).map((m) => ({
    ...m,
    upstream_model: m.upstream_model ?? m.id,
    cached_input_price: m.cached_input_price ?? m.input_price,
  }));
  const modelIds = new Set<string>();
  for (const m of models) {
    if (!ids.has(m.provider)) throw new ConfigError(`invalid config: models.${m.id}.provider: unknown provider ${JSON.stringify(m.provider)}`);
    if (modelIds.has(m.id)) throw new ConfigError(`invalid config: models: duplicate id ${JSON.stringify(m.id)}`);
    modelIds.add(m.id);
  }
  // Rate-limit plans: everything that names a plan must name a configured one; tiers ascending.
  const planRefs: [string, string][] = [["default_plan", c.default_plan], ...c.tiers.map((t, i): [string, string] => [`tiers.${i}.plan`, t.plan])];
  for (const [field, plan] of planRefs) {
    if (!Object.hasOwn(c.plans, plan)) throw new ConfigError(`invalid config: ${field}: unknown plan ${JSON.stringify(plan)} (configured: ${Object.keys(c.plans).join(", ")})`);
  }
  c.tiers.sort((a, b) => a.min_lifetime_topup_micros - b.min_lifetime_topup_micros);
  return deepFreeze({ ...c, providers, models });
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
