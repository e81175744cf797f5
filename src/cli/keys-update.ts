import { z } from "zod";
import { microsToUsd } from "../money/units";
import { UpdateKeyBody, type BudgetT } from "../modules/keys/model";
import { keyView } from "../modules/keys/service";
import { keyOverrides, updateKey } from "../modules/keys/update";
import { UsageError, type Parsed } from "./args";
import { CLI_ACTOR, pairs, positionals, validate, type CliContext, type LeafCommand } from "./command";
import { parseUsd } from "./credits";
import { parseExpires } from "./key-args";

const LIMIT_FLAGS = ["rpm", "tpm", "concurrency"] as const;

/** A positive whole number, or "plan" (the override removed). */
function parseLimit(text: string, flag: string): number | null {
  if (text === "plan") return null;
  if (!/^\d+$/.test(text) || Number(text) <= 0) throw new UsageError(`--${flag}: expected a positive whole number or "plan", got ${JSON.stringify(text)}`);
  return Number(text);
}

/** --budget <usd>|none with --budget-period (default month). */
function parseBudget(o: Parsed["options"]): BudgetT | null | undefined {
  const amount = o.budget;
  const period = o["budget-period"];
  if (amount === undefined) {
    if (period !== undefined) throw new UsageError("--budget-period: give --budget <usd> with it");
    return undefined;
  }
  if (amount === "none") return null;
  const micros = parseUsd(String(amount), "--budget");
  if (micros <= 0) throw new UsageError("--budget: must be greater than zero (or none)");
  const p = period === undefined ? "month" : String(period);
  if (p !== "day" && p !== "week" && p !== "month") throw new UsageError(`--budget-period: expected day, week or month, got ${JSON.stringify(p)}`);
  return { period: p, amount_micros: micros };
}

/** The PATCH body from the flags given (absent flags leave a field as it is). */
function bodyOf(o: Parsed["options"]): z.input<typeof UpdateKeyBody> {
  const body: z.input<typeof UpdateKeyBody> = {};
  if (o.name !== undefined) body.name = String(o.name);
  if (o.models !== undefined) {
    const models = String(o.models).split(",").map((m) => m.trim()).filter(Boolean);
    if (models.length === 0) throw new UsageError("--models: list at least one model id, or all");
    body.models = models.length === 1 && models[0] === "all" ? null : models;
  }
  if (o["expires-at"] !== undefined) body.expires_at = o["expires-at"] === "never" ? null : parseExpires(String(o["expires-at"]), Date.now(), "--expires-at");
  if (o["spend-cap"] !== undefined) {
    const cap = o["spend-cap"] === "none" ? null : parseUsd(String(o["spend-cap"]), "--spend-cap");
    if (cap !== null && cap <= 0) throw new UsageError("--spend-cap: must be greater than zero (or none)");
    body.spend_cap_micros = cap;
  }
  for (const l of LIMIT_FLAGS) if (o[l] !== undefined) body[l] = parseLimit(String(o[l]), l);
  const budget = parseBudget(o);
  if (budget !== undefined) body.budget = budget;
  return body;
}

/** `tollgate keys update <key-id> ...`: PATCH /admin/keys/:id from the command line. */
export const keysUpdateCommand: LeafCommand = {
  summary: "Change a key (name, models, expiry, cap, limits, budget) without rotating it; applies from its next request",
  args: ["<key-id>"],
  options: {
    name: { type: "string", value: "<name>", describe: "a new label" },
    models: { type: "string", value: "<a,b|all>", describe: "model ids the key may use, or all" },
    "expires-at": { type: "string", value: "<time|never>", describe: "unix seconds, ISO 8601 or a date; never = no expiry" },
    "spend-cap": { type: "string", value: "<usd|none>", describe: "lifetime cap of the key's rotation line" },
    rpm: { type: "string", value: "<n|plan>", describe: "requests per minute (never above the plan; plan = the plan's)" },
    tpm: { type: "string", value: "<n|plan>", describe: "tokens per minute" },
    concurrency: { type: "string", value: "<n|plan>", describe: "requests in flight" },
    budget: { type: "string", value: "<usd|none>", describe: "budget per period, reset at the period's start in budget_timezone" },
    "budget-period": { type: "string", value: "<day|week|month>", describe: "the budget's period (default month)" },
  },
  examples: [
    "tollgate keys update key_123 --spend-cap 100 --models grok-4",
    "tollgate keys update key_123 --budget 50 --budget-period month --rpm 60 --json",
  ],
  async run(ctx: CliContext, parsed: Parsed) {
    const [id] = positionals(parsed, this, "keys update");
    const body = validate(UpdateKeyBody, bodyOf(parsed.options), (f) => `--${f.split(".")[0]!.replace(/_/g, "-")}`);
    if (Object.keys(body).length === 0) throw new UsageError("keys update: give at least one change; see 'tollgate keys update --help'");
    const config = ctx.config();
    const now = Date.now();
    const row = await updateKey(await ctx.db(), id!, body, { actor: CLI_ACTOR, now, policy: config, models: config.models.map((m) => m.id) });
    const k = { ...keyView(row, now), limits: await keyOverrides(await ctx.db(), row.id) };
    const limit = (v: number | null) => (v === null ? "plan" : String(v));
    ctx.print(k, () => [
      `updated ${k.id}`,
      ...pairs([
        ["name", k.name || "-"],
        ["models", k.models ? k.models.join(",") : "all"],
        ["expires", k.expires_at === null ? "never" : new Date(k.expires_at * 1000).toISOString()],
        ["spend cap", k.spend_cap_micros === null ? "none" : `${microsToUsd(k.spend_cap_micros)} USD`],
        ["budget", k.budget ? `${microsToUsd(k.budget.amount_micros)} USD per ${k.budget.period}` : "none"],
        ["limits", `rpm ${limit(k.limits.rpm)}, tpm ${limit(k.limits.tpm)}, concurrency ${limit(k.limits.concurrency)}`],
      ]),
    ]);
  },
};
