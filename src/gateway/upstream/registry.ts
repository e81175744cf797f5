import type { Config, Deployment, Model, Provider } from "../../config/load";
import { createLog, type Log } from "../../lib/log";
import { CircuitBreaker } from "./breaker";
import { connectAddress, egressProxies, type EgressProxies } from "./connect-check";

/** One upstream key of one provider: the unit that is rotated, broken and reported. */
export interface Target {
  /** `<provider>#<n>` (1-based key number): never the key itself. What logs and reports name. */
  id: string;
  /** The key's stable id (keyRef): what objects held by this key (deferred results, stored responses) record. */
  ref: string;
  provider: Provider;
  /** The upstream key (undefined for a provider without one); never shown or logged. */
  key: string | undefined;
  breaker: CircuitBreaker;
  inFlight: number;
  requests: number;
  failures: number;
  lastError: string | null;
  lastErrorAt: number | null;
  lastSuccessAt: number | null;
}

/** One place a request may go: a deployment of the model through one key of its provider. */
export interface Candidate {
  deployment: Deployment;
  target: Target;
}

export interface RegistryOptions {
  now?: () => number;
  /** Where upstream failures and breaker transitions are reported. */
  log?: Log;
  /** Uniform in [0, 1); injected so that tests can make weighted choices deterministic. */
  random?: () => number;
  /** The environment's proxy variables (HTTPS_PROXY, HTTP_PROXY, NO_PROXY); process.env unless given. */
  env?: Record<string, string | undefined>;
}

/** The deployments of a model, also for configs built in code without `deployments`. */
export function deploymentsOf(m: Model): readonly Deployment[] {
  return m.deployments?.length ? m.deployments : [{ provider: m.provider, upstream_model: m.upstream_model, priority: 0, weight: 1 }];
}

/** The keys of a provider, also for configs built in code without `api_keys`. */
export function keysOf(p: Provider): readonly (string | undefined)[] {
  if (p.api_keys?.length) return p.api_keys;
  return [p.api_key];
}

/**
 * A key's stable id: its provider and a short hash of the key (never the key itself). Unlike its
 * position in the list, it still names the same key after another key is removed or reordered.
 */
export function keyRef(providerId: string, key: string | undefined): string {
  // Bun's hasher, not node:crypto: serve loads this at start, where node:crypto costs memory and time.
  return `${providerId}#k${new Bun.CryptoHasher("sha256").update(key ?? "").digest("hex").slice(0, 12)}`;
}

/** A reference recorded before stable ids (`<provider>#<n>`): the key at that position then, perhaps not now. */
export const positionalRef = (ref: string): boolean => /#\d+$/.test(ref);

/** Weighted random order without replacement (Efraimidis–Spirakis: key u^(1/w), largest first). */
function weightedOrder<T extends { weight: number }>(items: readonly T[], random: () => number): T[] {
  if (items.length < 2) return [...items];
  return items
    .map((item) => ({ item, k: Math.pow(random() || Number.MIN_VALUE, 1 / item.weight) }))
    .sort((a, b) => b.k - a.k)
    .map((x) => x.item);
}

/**
 * The upstream side of the catalogue: provider keys with their circuit breakers and counters,
 * and the order in which a model's deployments and keys are tried.
 */
export class UpstreamRegistry {
  readonly now: () => number;
  readonly log: Log;
  private readonly random: () => number;
  private readonly byProvider = new Map<string, Target[]>();
  /** Round-robin position per provider: consecutive requests start on different keys. */
  private readonly turn = new Map<string, number>();
  private readonly groups = new WeakMap<Model, Deployment[][]>();
  /** Base URLs whose host answered the last time it was used (absent: never used). */
  private readonly answering = new Map<string, boolean>();
  /** Read once: Bun's fetch goes through these, so the connect check dials them. */
  private readonly proxies: EgressProxies;

  constructor(
    readonly config: Config,
    opts: RegistryOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? createLog("off");
    this.random = opts.random ?? Math.random;
    this.proxies = egressProxies(opts.env ?? process.env);
    for (const p of config.providers) {
      this.byProvider.set(
        p.id,
        keysOf(p).map((key, i) => ({
          id: `${p.id}#${i + 1}`,
          ref: keyRef(p.id, key),
          provider: p,
          key,
          breaker: this.breaker(`${p.id}#${i + 1}`),
          inFlight: 0,
          requests: 0,
          failures: 0,
          lastError: null,
          lastErrorAt: null,
          lastSuccessAt: null,
        })),
      );
    }
  }

  private breaker(upstream: string): CircuitBreaker {
    const b = this.config.breaker;
    const opts = {
      failures: b.failures,
      windowMs: b.window_ms,
      cooldownMs: b.cooldown_ms,
      minAccounts: b.min_accounts,
      minRequests: b.min_requests,
      failureRate: b.failure_rate,
    };
    return new CircuitBreaker(opts, this.now, (from, to) => this.log.event("breaker", { upstream, from, to }, to === "open" ? "warn" : "info"));
  }

  get targets(): Target[] {
    return [...this.byProvider.values()].flat();
  }

  /**
   * The key an object's recorded reference names: by its stable id, or (a reference recorded
   * before them) by position, as it was resolved then; undefined when no configured key matches.
   */
  resolve(ref: string): Target | undefined {
    const all = this.targets;
    return all.find((t) => t.ref === ref) ?? (positionalRef(ref) ? all.find((t) => t.id === ref) : undefined);
  }

  /** Whether two recorded references name one configured key (one recorded by position before stable ids, say). */
  readonly sameKey = (a: string, b: string): boolean => {
    if (a === b) return true;
    const t = this.resolve(a);
    return t !== undefined && t === this.resolve(b);
  };

  targetsOf(providerId: string): readonly Target[] {
    return this.byProvider.get(providerId) ?? [];
  }

  /**
   * Every (deployment, key) pair for a model in the order to try them: priorities ascending,
   * weighted random order within one priority, and each provider's keys rotated round-robin.
   * Open breakers are included (the caller skips them at the time of the attempt).
   */
  candidates(model: Model): Candidate[] {
    const out: Candidate[] = [];
    // The turn moves once per request and provider: moved per deployment, two deployments on a
    // provider with two keys would start every request on the same key. (The first provider's
    // start is kept in locals: most models have one, and the hot path makes no map for it.)
    let first: string | undefined;
    let firstStart = 0;
    let more: Map<string, number> | undefined;
    for (const group of this.priorityGroups(model)) {
      for (const deployment of weightedOrder(group, this.random)) {
        const keys = this.byProvider.get(deployment.provider) ?? [];
        let start = deployment.provider === first ? firstStart : more?.get(deployment.provider);
        if (start === undefined) {
          start = this.turn.get(deployment.provider) ?? 0;
          this.turn.set(deployment.provider, (start + 1) % Math.max(keys.length, 1));
          if (first !== undefined) (more ??= new Map()).set(deployment.provider, start);
          else {
            first = deployment.provider;
            firstStart = start;
          }
        }
        for (let i = 0; i < keys.length; i++) out.push({ deployment, target: keys[(start + i) % keys.length]! });
      }
    }
    return out;
  }

  /** A model's deployments grouped by priority, ascending; built once per model (config is frozen). */
  private priorityGroups(model: Model): Deployment[][] {
    let groups = this.groups.get(model);
    if (!groups) {
      const by = new Map<number, Deployment[]>();
      for (const d of deploymentsOf(model)) by.set(d.priority, [...(by.get(d.priority) ?? []), d]);
      groups = [...by.keys()].sort((a, b) => a - b).map((p) => by.get(p)!);
      this.groups.set(model, groups);
    }
    return groups;
  }

  /** A host never used, or silent the last time (no connection, no answer), is checked first. */
  needsConnectCheck(baseUrl: string): boolean {
    return this.answering.get(baseUrl) !== true;
  }

  /** What the connect check of a base URL dials: its host, or the egress proxy its requests go through. */
  connectAddress(baseUrl: string): { hostname: string; port: number } {
    return connectAddress(baseUrl, this.proxies);
  }

  markOrigin(baseUrl: string, answered: boolean): void {
    this.answering.set(baseUrl, answered);
  }

  /** Deployments (model, upstream model) served through a provider, for the admin view. */
  modelsOf(providerId: string): { model: string; upstream_model: string; priority: number; weight: number }[] {
    return this.config.models.flatMap((m) =>
      deploymentsOf(m)
        .filter((d) => d.provider === providerId)
        .map((d) => ({ model: m.id, upstream_model: d.upstream_model, priority: d.priority, weight: d.weight })),
    );
  }
}
