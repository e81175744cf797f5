import { microsToUsd, usdToMicros } from "../money/units";
import { CreditBody } from "../modules/ledger/model";
import { creditTx, postCreditWork } from "../money/ledger";
import { noteCredit } from "../modules/alerts/work";
import { serverStateWork } from "./server-state";
import { UsageError } from "./args";
import { CLI_ACTOR, positionals, validate, type GroupCommand } from "./command";

/** A decimal USD amount from the command line ("12.5", "-3"), as exact micros. */
export function parseUsd(text: string, what: string): number {
  try {
    return usdToMicros(text);
  } catch (e) {
    throw new UsageError(`${what}: ${(e as Error).message}`);
  }
}

export const creditsCommand: GroupCommand = {
  summary: "Prepaid credits",
  subcommands: {
    add: {
      summary: "Add credits (positive USD) or post an adjustment (negative USD) to an account",
      args: ["<account-id>", "<amount-usd>"],
      options: {
        note: { type: "string", value: "<text>", describe: "note stored on the ledger entry" },
        "idempotency-key": {
          type: "string",
          value: "<key>",
          describe: "a repeat with the same key and amount is applied once and replays the first result",
        },
      },
      examples: [
        "tollgate credits add acc_123 25 --note 'invoice 42' --idempotency-key inv-42",
        "tollgate credits add acc_123 -1.5 --note 'goodwill correction'",
      ],
      async run(ctx, parsed) {
        const [accountId, amountText] = positionals(parsed, this, "credits add");
        const amount = parseUsd(amountText!, "amount-usd");
        const o = parsed.options;
        const body = validate(CreditBody, { amount_micros: amount, note: o.note }, (f) => (f === "amount_micros" ? "amount-usd" : `--${f}`));
        const key = o["idempotency-key"] as string | undefined;
        if (key !== undefined && key.length > 255) throw new UsageError("--idempotency-key: at most 255 characters");
        const db = await ctx.db();
        const serverState = await serverStateWork(ctx);
        const now = Date.now();
        const defaultThreshold = ctx.config().low_balance_threshold_usd;
        const posted = { accountId: accountId!, amountMicros: body.amount_micros, note: body.note, actor: CLI_ACTOR, idempotencyKey: key };
        // The gateway's state is read inside the credit's transaction, where none of its batches can
        // land: its journaled charges, not yet written, are as unavailable as its holds.
        const { entry, replayed, unwritten } = await db.tx(function* (q) {
          const state = yield* serverState(q, [accountId!]);
          const unwritten = state.unwritten(accountId!);
          const held = state.held(accountId!) + unwritten;
          const r = yield* postCreditWork(q, { ...posted, heldMicros: held }, now);
          // The low-balance alert decides with the credit, from the balance as it really is (the
          // entry's balance_after comes before the journaled charges that are written after it).
          if (!r.replayed) yield* noteCredit(q, { accountId: accountId!, ledgerId: r.entry.id, held, defaultThreshold }, now);
          return { ...r, unwritten };
        }, creditTx(body.amount_micros));
        const balanceMicros = entry.balance_after_micros - (replayed ? 0 : unwritten);
        ctx.print({ ...entry, balance_micros: balanceMicros, replayed }, () => {
          const what = `${entry.kind} of ${entry.amount_usd} USD on ${entry.account_id} (ledger entry ${entry.id})`;
          const balance = `balance ${microsToUsd(replayed ? entry.balance_after_micros : balanceMicros)} USD`;
          return replayed
            ? `already applied with idempotency key ${JSON.stringify(key)}: ${what}, ${balance} then; nothing changed`
            : `${what}: ${balance}`;
        });
      },
    },
  },
};
