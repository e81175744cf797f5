import { sql } from "drizzle-orm";
import type { PgStore } from "../../store/pg-store";
import { rows } from "../../store/work";
import type { BudgetClock } from "../budget-clock";
import { ruleOf, type BudgetOwners, type BudgetRule } from "../budgets";
import type { SpendOwners } from "../credit-store";
import { accountScope, budgetScope, capScope, type Scope } from "./scopes";

type KeyRule = { cap: number | null; budget: BudgetRule | null };

/**
 * Which scopes a hold draws on: its account always, its key line's cap and budget and its
 * member's budget when they have one. The rules are read from PostgreSQL and re-read once a change
 * notification moved the store's stamp (an edited cap or budget applies from the next request);
 * bounded by the keys and members in use.
 */
export class ScopeRules {
  /** Rules with the change stamp they were read under: re-read by `scopes` once it moved, kept meanwhile. */
  private readonly keys = new Map<string, KeyRule & { stamp: number }>();
  private readonly members = new Map<string, { rule: BudgetRule | null; stamp: number }>();

  constructor(private readonly store: PgStore, private readonly clock: BudgetClock, private readonly now: () => number) {}

  /** The scopes of these owners, reading the rules it does not know yet. */
  async scopes(o: SpendOwners): Promise<Scope[]> {
    const stamp = this.store.changeStamp();
    const key = o.capKeyId;
    if (key && this.keys.get(key)?.stamp !== stamp) {
      const [k] = await this.store.read((q) =>
        rows<{ cap: string | number | null; bm: string | number | null; bp: string | null }>(
          sql`SELECT spend_cap_micros AS cap, budget_micros AS bm, budget_period AS bp FROM api_keys WHERE id = ${key}`,
        ),
      );
      this.keys.set(key, { cap: k?.cap == null ? null : Number(k.cap), budget: ruleOf(k?.bm == null ? null : Number(k.bm), k?.bp), stamp });
    }
    const member = o.memberId;
    if (member && this.members.get(member)?.stamp !== stamp) {
      const [m] = await this.store.read((q) =>
        rows<{ bm: string | number | null; bp: string | null }>(sql`SELECT budget_micros AS bm, budget_period AS bp FROM account_members WHERE id = ${member}`),
      );
      this.members.set(member, { rule: ruleOf(m?.bm == null ? null : Number(m.bm), m?.bp), stamp });
    }
    return this.known(o);
  }

  /** The scopes of these owners as far as the rules are known (after `scopes`, all of them). */
  known(o: SpendOwners): Scope[] {
    const out = [accountScope(o.accountId)];
    const key = o.capKeyId ? this.keys.get(o.capKeyId) : undefined;
    if (key?.cap != null) out.push(capScope(o.capKeyId!, key.cap));
    return out.concat(this.knownBudgets(o));
  }

  knownBudgets(o: BudgetOwners): Scope[] {
    const now = this.now();
    const out: Scope[] = [];
    const key = o.capKeyId ? this.keys.get(o.capKeyId) : undefined;
    if (key?.budget) out.push(budgetScope("key", o.capKeyId!, key.budget, this.clock, now));
    const member = o.memberId ? this.members.get(o.memberId)?.rule : undefined;
    if (member) out.push(budgetScope("member", o.memberId!, member, this.clock, now));
    return out;
  }
}
