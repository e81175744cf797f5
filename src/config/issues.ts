import type { z } from "zod";
import { BreakerSchema, ConfigSchema, DeploymentSchema, ModelSchema, PlanSchema, ProviderSchema, RetrySchema, TierSchema, TimeoutsSchema } from "./schema";
import { ENV_MAP } from "./env-map";

/** Every key the configuration knows, at any depth: the suggestions for a misspelt one (only needed then). */
const knownKeys = () =>
  [ConfigSchema, ProviderSchema, DeploymentSchema, ModelSchema, TimeoutsSchema, RetrySchema, BreakerSchema, PlanSchema, TierSchema.in].flatMap((s) => Object.keys(s.shape));

/** The known key closest to `key` within two edits, or the one it is missing a unit suffix of (`_ms`). */
function closest(key: string): string | undefined {
  const lower = key.toLowerCase();
  let best: { k: string; d: number } | undefined;
  for (const k of knownKeys()) {
    const d = k.startsWith(`${lower}_`) ? 1 : editDistance(lower, k);
    if (d <= 2 && (!best || d < best.d)) best = { k, d };
  }
  return best?.k;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * TOLLGATE_ variables that are no setting but are read all the same: the config file's path, and
 * the customer's key in the portal's code samples and the docs' screenshot switch, which may be
 * set in the same shell.
 */
const OTHER_ENV = ["TOLLGATE_CONFIG", "TOLLGATE_API_KEY", "TOLLGATE_SCREENSHOTS"];
/**
 * What Kubernetes (and Docker's links) give every container beside a service named tollgate:
 * TOLLGATE_SERVICE_HOST, TOLLGATE_PORT=tcp://…, TOLLGATE_PORT_8080_TCP_ADDR and the like.
 */
const SERVICE_LINK = /^TOLLGATE_(SERVICE_[A-Z0-9_]+|PORT_\d+_(TCP|UDP|SCTP)[A-Z0-9_]*)$/;
/** TOLLGATE_PORT is a link only by its URL value: TOLLGATE_PORT=9000 is a mistaken PORT, never to be ignored. */
const isServiceLink = (name: string, value: string | undefined): boolean =>
  SERVICE_LINK.test(name) || (name === "TOLLGATE_PORT" && /^(tcp|udp|sctp):\/\//.test(value ?? ""));

/** The setting's variable closest to an unknown one, compared without the TOLLGATE_ prefix: a prefixed PORT or SMTP_HOST finds its variable. */
function closestEnv(name: string): string | undefined {
  const bare = (n: string) => n.toUpperCase().replace(/^TOLLGATE_/, "");
  let best: { n: string; d: number } | undefined;
  for (const known of Object.keys(ENV_MAP)) {
    const d = bare(known).startsWith(`${bare(name)}_`) ? 1 : editDistance(bare(name), bare(known));
    if (d <= 3 && (!best || d < best.d)) best = { n: known, d };
  }
  return best?.n;
}

/**
 * The TOLLGATE_* variables (in any case) that name no setting, as one config error line, or
 * undefined: a misspelt one would leave its setting at the default in silence. `chosen`: variables
 * the configuration itself names (a provider's api_key_env).
 */
export function unknownEnvNames(env: Record<string, string | undefined>, chosen: readonly string[] = []): string | undefined {
  const unknown = Object.keys(env)
    .filter((n) => n.toUpperCase().startsWith("TOLLGATE_") && !Object.hasOwn(ENV_MAP, n) && !OTHER_ENV.includes(n) && !chosen.includes(n) && !isServiceLink(n, env[n]))
    .sort();
  if (unknown.length === 0) return undefined;
  const named = unknown.map((n) => {
    const near = closestEnv(n);
    return near ? `${n} (did you mean ${near}, the setting ${ENV_MAP[near]}?)` : n;
  });
  return `invalid config: unknown environment variable${unknown.length > 1 ? "s" : ""}: ${named.join(", ")}`;
}

/** A path with list entries named by their id where they have one: models.grok-4.input_price, not models.0.input_price. */
function readablePath(path: readonly PropertyKey[], raw: Record<string, unknown>): string {
  const [list, index, ...rest] = path;
  const entry = (list === "models" || list === "providers") && typeof index === "number" ? (raw[list] as unknown[] | undefined)?.[index] : undefined;
  const id = entry && typeof entry === "object" ? (entry as { id?: unknown }).id : undefined;
  if (typeof id === "string" && id) return [list, id, ...rest].map(String).join(".");
  return path.map(String).join(".") || "(root)";
}

/**
 * Settings that are credentials or may carry one (a database URL's password, a webhook URL's
 * token): their value is never repeated, as the message lands on stderr and in the service's log.
 */
const SECRET_FIELDS: ReadonlySet<PropertyKey> = new Set([
  "admin_token", "xai_api_key", "database_url", "stripe_secret_key", "stripe_webhook_secret",
  "alert_webhook_url", "alert_webhook_secret", "smtp_password",
]);

export function formatIssue(issue: z.core.$ZodIssue, raw: Record<string, unknown>): string {
  const path = readablePath(issue.path, raw);
  // A misspelt key would otherwise be ignored in silence, its setting left at the default.
  if (issue.code === "unrecognized_keys") {
    const where = issue.path.length ? ` in ${path}` : "";
    return `invalid config: unknown key${issue.keys.length > 1 ? "s" : ""}${where}: ${issue.keys
      .map((k) => {
        const near = closest(k);
        return near ? `${k} (did you mean ${near}?)` : k;
      })
      .join(", ")}`;
  }
  const envName = Object.entries(ENV_MAP).find(([, f]) => f === issue.path[0])?.[0];
  const got = issue.path.length === 1 && !SECRET_FIELDS.has(issue.path[0]!) ? raw[String(issue.path[0])] : undefined;
  const source = envName ? ` (env ${envName})` : "";
  return `invalid config: ${path}${source}: ${issue.message}${got !== undefined ? ` (got ${JSON.stringify(got)})` : ""}`;
}
