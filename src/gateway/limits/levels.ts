import { type Bucket, remaining, resetMs } from "./bucket";
import { formatDuration } from "./duration";
import type { LimitsView } from "./limiter";
import type { Limits } from "./plans";

/** The levels a request is limited at (its key, its account), and the headers that report them. */
export type Scope = "key" | "account";
export interface Level {
  scope: Scope;
  id: string;
  limits: Limits;
  /** Map keys of its request bucket, token bucket and in-flight count, built once. */
  r: string;
  t: string;
  slot: string;
}
export interface LevelState {
  level: Level;
  req: Bucket;
  tok: Bucket;
}

export const slotOf = (scope: Scope, id: string) => `${scope === "key" ? "k" : "a"}:${id}`;
export function level(scope: Scope, id: string, limits: Limits): Level {
  const slot = slotOf(scope, id);
  return { scope, id, limits, r: `${slot}:r`, t: `${slot}:t`, slot };
}
export const describe = (l: Level) => `${l.scope} ${l.id}`;

/** The level with the least remaining (ties: the smaller limit, then the longer reset). */
export function tightest(states: LevelState[], dim: "req" | "tok"): { limit: number; remaining: number; resetMs: number } {
  let best: { limit: number; remaining: number; resetMs: number } | undefined;
  for (const s of states) {
    const limit = dim === "req" ? s.level.limits.rpm : s.level.limits.tpm;
    const c = { limit, remaining: remaining(s[dim]), resetMs: resetMs(s[dim], limit) };
    if (
      !best ||
      c.remaining < best.remaining ||
      (c.remaining === best.remaining && (c.limit < best.limit || (c.limit === best.limit && c.resetMs > best.resetMs)))
    ) {
      best = c;
    }
  }
  return best!;
}

/** OpenAI's x-ratelimit-* headers, reporting the tighter of the key and account levels. */
export function render(states: LevelState[]): Record<string, string> {
  const r = tightest(states, "req");
  const t = tightest(states, "tok");
  return {
    "x-ratelimit-limit-requests": String(r.limit),
    "x-ratelimit-remaining-requests": String(r.remaining),
    "x-ratelimit-reset-requests": formatDuration(r.resetMs),
    "x-ratelimit-limit-tokens": String(t.limit),
    "x-ratelimit-remaining-tokens": String(t.remaining),
    "x-ratelimit-reset-tokens": formatDuration(t.resetMs),
  };
}

/** What a key may still do, the tighter of its levels (GET /v1/me's limits): `busy` counts a level's requests under way. */
export function limitsView(plan: string, states: LevelState[], busy: (l: Level) => number): LimitsView {
  const levels = states.map((s) => s.level);
  const req = tightest(states, "req");
  const tok = tightest(states, "tok");
  return {
    plan,
    rpm: Math.min(...levels.map((l) => l.limits.rpm)),
    tpm: Math.min(...levels.map((l) => l.limits.tpm)),
    concurrency: Math.min(...levels.map((l) => l.limits.concurrency)),
    remaining: {
      requests: req.remaining,
      tokens: tok.remaining,
      concurrency: Math.max(0, Math.min(...levels.map((l) => l.limits.concurrency - busy(l)))),
    },
    reset: { requests: formatDuration(req.resetMs), tokens: formatDuration(tok.resetMs) },
  };
}
