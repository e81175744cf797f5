import type { BudgetClock } from "./budget-clock";
import { keyOwner, memberOwner, type BudgetOwners, type BudgetState } from "./budgets";

import type { ApiError } from "../lib/errors";
import type { Q, Work } from "../store/work";

/**
 * Balances and holds on the hot path sit behind this interface, so that a shared (Postgres)
 * implementation can replace the embedded one when a deployment outgrows one machine.
 */
export interface Balance {
  balance: number;
  held: number;
  available: number;
}

export interface HoldRequest {
  accountId: string;
  keyId?: string | null;
  /**
   * The key whose spend and cap this counts against: the newest of a rotated key's line (its
   * replacements share one cap), `keyId` when absent.
   */
  capKeyId?: string | null;
  /** The member whose budget this counts against (the key's creator, else the owner); none when absent. */
  memberId?: string | null;
  requestId: string;
  amount: number;
  ttlMs?: number;
  /**
   * A request in flight owns it: the sweeper leaves it alone (the gateway's own timeouts end the
   * request, which settles it). A live hold whose settlement fails to commit becomes an ordinary one.
   */
  live?: boolean;
  /**
   * Re-establishes a hold a previous process had granted (a deferred request that outlives a
   * restart): no balance, cap or status check, it was checked when granted.
   */
  restore?: boolean;
  /**
   * The caller generated `requestId` for this request (the chat path does): it was never charged
   * before, so its settlement need not ask the ledger. Without it a reused id is charged at most
   * once, as always, at the cost of one lookup per settlement.
   */
  freshId?: boolean;
}

/** A row written in the same transaction as the settlement (the usage log). */
export interface SettleExtras {
  note?: string;
  usage?: UsageRecord;
  /**
   * Whose hold this is when it may live on another instance (a deferred completion fetched on a
   * shared store): charged even without a hold here, still once per request id.
   */
  owners?: SpendOwners & { keyId: string | null };
  /**
   * An object the upstream stored for this request (a Responses object), recorded for its owner
   * with the settlement: in the same write, journaled with it, never a write of its own.
   */
  object?: StoredObjectRow;
  /**
   * The ids of the items stored with `object` (a response's output items), which a later request
   * may name (`item_reference`): each is recorded as a row of kind "item" with the object's owner
   * and upstream key, in the same write.
   */
  items?: readonly string[];
  /**
   * What each of `items` is billed as when a later request names it (an upper bound, held for it);
   * absent: the object's own tokens.
   */
  itemTokens?: number;
}

/** A row of upstream_objects: who owns an object created upstream through the shared key. */
export interface StoredObjectRow {
  id: string;
  /** A stored response, or an item of one (an input or output item). */
  kind: "response" | "item";
  accountId: string;
  keyId: string | null;
  /** The upstream key (`<provider>#<n>`) that holds it: reads and continuations go there. */
  target: string;
  model: string;
  /**
   * A response: tokens of the conversation so far (a continuation is billed them again). An item:
   * the most a request naming it is billed for it (0: recorded before sizes were kept, unknown).
   */
  tokens: number;
  chargeMicros: number;
  createdAt: number;
  /**
   * An item: the id of the response it was recorded with (the answer it came in, or the response
   * whose listing showed it), which bounds it and its fellows together. Null for a response, and
   * for an item recorded before this was kept (absent in a settlement journaled before then).
   */
  responseId?: string | null;
}

export interface UsageRecord {
  requestId: string;
  accountId: string;
  keyId: string | null;
  model: string;
  stream: boolean;
  status: number;
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  reasoningTokens: number;
  costMicros: number;
  estimated: boolean;
  latencyMs: number;
  ttftMs: number | null;
  upstreamRequestId: string | null;
  errorCode: string | null;
  createdAt: number;
  /** Absent in records journaled by older versions: chat.completions. */
  endpoint?: string;
  /** `<provider>#<key number>/<upstream model>`, or null when no upstream answered. */
  upstream?: string | null;
  /** Charged beyond the hold. */
  overageMicros?: number;
  /** What the upstream billed for it, when known. */
  upstreamCostMicros?: number | null;
}

export interface SettleResult {
  charged: number;
  released: number;
}

/** A key's spending against its cap (cap null: none). */
export interface KeySpend {
  spent: number;
  held: number;
  cap: number | null;
}

/** Whose credit a request spends: its account, its key line (cap, budget) and its member (budget). */
export interface SpendOwners {
  accountId: string;
  /** The key the request presented (named in a spending cap's refusal). */
  keyId?: string | null;
  capKeyId: string | null;
  memberId: string | null;
  /** False when the key line has no cap for sure (lets the lookup be skipped); absent: look. */
  capped?: boolean;
  /** False when neither the key line nor the member has a budget for sure; absent: look. */
  budgeted?: boolean;
}

/** What may be held for a request now, and the refusal that names whatever binds. */
export interface Spendable {
  amount: number;
  /** What binds, when it is not the account's balance: "this API key's spending cap", a budget and its reset. */
  limit?: () => string;
  refuse: () => ApiError;
}

export interface CreditStore {
  balance(accountId: string): Balance;
  /**
   * What an adjustment must leave covered: the holds, and charges the database does not have yet
   * (journaled, not yet written: when their write failed, the balance it reads lacks them).
   */
  unavailable(accountId: string): number;
  /**
   * What these owners may hold now: the account's available credit, bounded by what the key
   * line's cap and the budgets leave (holds in flight count against each), with its refusal.
   */
  spendable(owners: SpendOwners): Spendable;
  /**
   * Before the synchronous admission, makes sure `amount` can be held if the database allows it
   * (PostgreSQL: leases it), promised to this request until the function it resolves to is called
   * (by the admission, right before it holds). Absent on the embedded store, where the balance is here.
   */
  prepare?(owners: SpendOwners, amount: number): Promise<() => void>;
  /** What the key has spent and holds now; null for an unknown key. */
  keySpend(keyId: string): KeySpend | null;
  /** The budgets of a key line (its newest key) and a member, and where they stand now. */
  budgets(owners: BudgetOwners): BudgetState[];
  /**
   * Where the budgets of many owners stand, from the database in one read, for a page showing
   * them (keyed by keyOwner, memberOwner). Absent on the embedded store, whose `budgets` knows
   * every budget; on PostgreSQL `budgets` knows only those this instance has leased.
   */
  readBudgets?(owners: readonly BudgetOwners[]): Promise<Map<string, BudgetState>>;
  /** Where budget periods begin and end (budget_timezone). */
  readonly budgetClock: BudgetClock;
  /** Called with the account id after every committed settlement that charged something. */
  onCharge(listener: (accountId: string) => void): void;
  /** Atomically checks `available >= amount` (and the key's spend cap and budgets) and holds it; throws 402. */
  reserve(req: HoldRequest): void;
  /**
   * Charges `actual`, all of it, and releases what the hold had beyond it; a charge above the hold
   * (the overage) may take the balance below zero. Resolves once durable. Second call: null.
   */
  settle(requestId: string, actual: number, extras?: SettleExtras): Promise<SettleResult | null>;
  /**
   * The hold outlives its request (a deferred completion): on a shared store it expires after the
   * hold TTL, since another instance may charge it (SettleExtras.owners). Absent: it stays live.
   */
  detach?(requestId: string): void;
  /**
   * A settlement that failed to commit left its hold here: keep it from the sweeper while its
   * charge is tried again (a stream's output went out already); `again` tries it, and the store's
   * flush calls it once more before a stop. False when no such hold is here.
   */
  retain?(requestId: string, again: () => Promise<unknown>): boolean;
  /** Settlements fail to commit (lately, or charges wait for their retry): readiness reports it. */
  failing?(): boolean;
  /** Whether a new request may be admitted: not while charges fail to commit, but for one a second that tries again. */
  admits?(): boolean;
  /**
   * A key was rotated into `newKeyId`: holds in flight that count against `oldKeyId` now count
   * against the new key (its spend cap and budget are the line's), and their charges go to it.
   */
  keyRotated?(oldKeyId: string, newKeyId: string): void;
  /**
   * What other processes may hold of the account's credit now, read in a unit of work (PostgreSQL:
   * other instances' live leases of it, at least what their requests hold). Absent on the embedded
   * store, where every hold is in this process.
   */
  heldElsewhere?(q: Q, accountId: string, now: number): Work<number>;
  /**
   * What other processes' requests hold of these accounts, for pages that show an account's held
   * credit (PostgreSQL: other instances' holds as their leases last reported them, every few
   * seconds). Absent on the embedded store, where `balance` counts every hold.
   */
  heldByOthers?(accountIds: readonly string[]): Promise<Map<string, number>>;
  /** Releases the hold without a charge; resolves once durable. Second call: false. */
  release(requestId: string, extras?: SettleExtras): Promise<boolean>;
  /** Releases holds past their expiry (not those of requests in flight); returns how many. */
  sweep(now?: number): Promise<number>;
  /** Releases every hold persisted by a previous process (called once at start). */
  recover(): number;
  /** Waits for queued writes to commit. */
  flush(): Promise<void>;
  /** Number of open holds in this process. */
  readonly openHolds: number;
}

/**
 * Before showing balances, caps and budgets: on a shared store (PostgreSQL) reads what this
 * instance has not leased, which it would otherwise show as nothing; a no-op on SQLite.
 */
export async function readForShow(credits: CreditStore, owners: SpendOwners): Promise<void> {
  (await credits.prepare?.(owners, 0))?.();
}

/**
 * An account's balance as a page shows it: this process's holds and, on a shared store, what other
 * instances' requests hold (after `readForShow`, which reads the balance of an account not leased here).
 */
export async function balanceForShow(credits: CreditStore, accountId: string): Promise<Balance> {
  const b = credits.balance(accountId);
  const others = (await credits.heldByOthers?.([accountId]))?.get(accountId) ?? 0;
  return others === 0 ? b : { balance: b.balance, held: b.held + others, available: b.available - others };
}

/** Where an owner's budgets stand (the key line's, then the member's), as `budgets` answers. */
export type BudgetLookup = (owners: BudgetOwners) => BudgetState[];

/**
 * Before showing the budgets of many owners (a list, a page of keys): on a shared store reads
 * them all from the database in one go, which it would otherwise show as none; SQLite's own.
 */
export async function budgetsForShow(credits: Pick<CreditStore, "budgets" | "readBudgets">, owners: readonly BudgetOwners[]): Promise<BudgetLookup> {
  if (!credits.readBudgets) return (o) => credits.budgets(o);
  const states = await credits.readBudgets(owners);
  return (o) => [o.capKeyId ? states.get(keyOwner(o.capKeyId)) : undefined, o.memberId ? states.get(memberOwner(o.memberId)) : undefined]
    .filter((s): s is BudgetState => s !== undefined);
}
