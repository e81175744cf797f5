import { errors } from "../lib/errors";

/**
 * How far the walks from a rotated key to the newest of its line go (a corrupt line cannot hang
 * them); rotation keeps every key that still works this close to the newest (modules/keys).
 */
export const LINE_HOPS = 32;

/** The newest key of `id`'s line, following `rotatedTo` from `next` (its own rotated_to) at most LINE_HOPS times. */
export function newestOfLine(id: string, rotatedTo: (id: string) => string | null, next = rotatedTo(id)): string {
  for (let hops = 0; next && hops < LINE_HOPS; hops++) {
    id = next;
    next = rotatedTo(id);
  }
  return id;
}

/** What authentication resolves for a customer request. */
export interface Principal {
  keyId: string;
  keyName: string;
  keyDisplay: string;
  models: string[] | null;
  expiresAt: number | null;
  spendCapMicros: number | null;
  /**
   * The key whose spend and cap the requests count against: the newest replacement when this key
   * was rotated (a key and its replacements share one cap), else the key itself.
   */
  capKeyId: string;
  /**
   * The member whose budget the key's spend counts against: the member who created it, else the
   * account's owner (keys made by the operator or before teams); null when the account has none.
   */
  memberId?: string | null;
  /**
   * Whether the key's line or its member had a budget when the row was read: lets keys without
   * one skip the budget lookups (the credit store's reserve checks budgets regardless).
   */
  budgeted?: boolean;
  accountId: string;
  accountName: string;
  plan: string;
  /** The key's rate-limit overrides (key_limits), if any. */
  keyLimits?: { rpm: number | null; tpm: number | null; concurrency: number | null } | null;
}

/** Authentication on the request path: synchronous on SQLite, a promise on a PostgreSQL miss. */
export interface KeyAuth {
  /** `hash`: sha256Hex(presented), when the caller has it already (a second check of one request). */
  authenticate(presented: string | undefined | null, hash?: string): Principal | Promise<Principal>;
  /** Writes the batched last-used times (every few seconds and at shutdown). */
  flushTouches(): number | Promise<number>;
}

export type KeyAuthRow = {
  id: string; name: string; prefix: string; last4: string; models: string | null; expires_at: number | null;
  revoked_at: number | null; spend_cap_micros: number | null; account_id: string; rotated_to: string | null; member_id: string | null;
  budget_micros: number | null;
};
export type AuthRow = KeyAuthRow & {
  account_name: string; plan: string; status: string;
  kl: { rpm: number | null; tpm: number | null; concurrency: number | null } | null;
  cap_key_id: string;
  /** key.member_id, else the account's owner member. */
  budget_member: string | null;
  budgeted: boolean;
  /** Built once per memoised row (see principalOf). */
  principal?: Principal;
};

export const noKey = () => errors.invalidKey("You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.");

/** The principal of a presented key's row, or the 401 that says why not (unknown, revoked, expired, suspended). */
export function admitRow(row: AuthRow | null | undefined, presented: string, now: number): Principal {
  if (!row) throw errors.invalidKey(`Incorrect API key provided: ${maskKey(presented)}.`);
  if (row.revoked_at !== null) throw errors.invalidKey("This API key has been revoked.");
  if (row.expires_at !== null && row.expires_at <= now) throw errors.invalidKey("This API key has expired.");
  if (row.status !== "active") throw errors.invalidKey("This account is suspended. Contact the operator.");
  return principalOf(row);
}

/**
 * One Principal per memoised row: the same object for every request while the row is unchanged,
 * so that what is derived from it (parsed models, rate-limit levels) is derived once. Read-only.
 */
function principalOf(row: AuthRow): Principal {
  return (row.principal ??= Object.freeze({
    keyId: row.id,
    keyName: row.name,
    keyDisplay: `${row.prefix}…${row.last4}`,
    models: row.models ? (JSON.parse(row.models) as string[]) : null,
    expiresAt: row.expires_at,
    spendCapMicros: row.spend_cap_micros,
    capKeyId: row.cap_key_id,
    memberId: row.budget_member,
    budgeted: row.budgeted,
    accountId: row.account_id,
    accountName: row.account_name,
    plan: row.plan,
    keyLimits: row.kl ? { rpm: row.kl.rpm, tpm: row.kl.tpm, concurrency: row.kl.concurrency } : null,
  }));
}

function maskKey(k: string): string {
  return k.length <= 8 ? "****" : `${k.slice(0, 6)}****${k.slice(-4)}`;
}
