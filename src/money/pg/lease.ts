import type { Scope, ScopeLimit } from "./scopes";

/** A lease as this instance sees it: what it leases, what its requests hold of it, and when it was renewed. */
export interface Lease {
  scope: Scope;
  leased: number;
  held: number;
  /** Wanted by requests waiting in ensure for more of this lease. */
  demand: number;
  /** Promised to requests that prepared and are not admitted yet (ensure → unpend). */
  promised: number;
  /** Drawn by settlements not committed yet: the database lease still counts it until they are. */
  pending: number;
  /** Checks against the scope's limit asked for (it changed) and done: the lease is not used while they differ. */
  asked: number;
  checked: number;
  usedAt: number;
  renewedAt: number;
  /** The scope's limit when last read (balance, cap and spend, budget spend: for messages and reports). */
  limit: ScopeLimit | null;
  inflight: Promise<boolean> | null;
  /** Its last lease was exact (the scope is scarce): what its requests do not need goes back at once. */
  exact: boolean;
  /** The lease's database changes, one after the other (a give-back must not cross an acquisition). */
  tail: Promise<void>;
  /** Changes queued or under way: the lease is not forgotten meanwhile (its next one would race them). */
  changing: number;
  /** A give-back is queued and will read what to keep when it runs: another would add nothing. */
  trimming: boolean;
  /** A give-back failed: the database may lease more than this instance counts, until one succeeds. */
  resync: boolean;
  /** What others lease of the scope (or of a budget's other periods) beyond their holds, at the last acquisition: asked back when scarce. */
  idle: number;
  /** When this instance last asked the others for it (performance.now()): once per WANT_EVERY_MS is enough. */
  askedAt: number;
}

export const newLease = (scope: Scope): Lease => ({
  scope, leased: 0, held: 0, demand: 0, promised: 0, pending: 0, asked: 0, checked: 0, usedAt: 0, renewedAt: 0, limit: null, inflight: null,
  exact: false, tail: Promise.resolve(), changing: 0, trimming: false, resync: false, idle: 0, askedAt: -Infinity,
});

/**
 * What an instance short of a scope may ask the others for: what they lease beyond their holds as
 * last reported, and of slots all they lease. An instance reports its slots' holds only with its
 * renewals (every second), not as each request ends: slots freed since would not be seen.
 */
export const askable = (s: Scope, got: { idle: number; others: number }): number => (s.kind === "conc" ? got.others : got.idle);
