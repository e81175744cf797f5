import { getKeyLimits, setKeyLimits } from "../modules/ratelimit/service";
import { keyLimitsView } from "../modules/ratelimit/views";
import { UsageError } from "./args";
import { CLI_ACTOR, pairs, positionals, type LeafCommand } from "./command";

const LIMITS = ["rpm", "tpm", "concurrency"] as const;

/** "none" clears an override; otherwise a positive whole number. */
function parseLimit(flag: string, v: string): number | null {
  if (v === "none") return null;
  if (!/^\d+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v))) {
    throw new UsageError(`--${flag}: expected a positive whole number or "none", got ${JSON.stringify(v)}`);
  }
  return Number(v);
}

/** `tollgate keys limits <key-id> [--rpm n] [--tpm n] [--concurrency n] [--clear]`. */
export const keyLimitsCommand: LeafCommand = {
  summary: "Show a key's rate limits, or set overrides that tighten its plan (applies from the next request)",
  args: ["<key-id>"],
  options: {
    rpm: { type: "string", value: "<n|none>", describe: "requests per minute for this key (none: the plan's)" },
    tpm: { type: "string", value: "<n|none>", describe: "tokens per minute for this key (none: the plan's)" },
    concurrency: { type: "string", value: "<n|none>", describe: "requests in flight for this key (none: the plan's)" },
    clear: { type: "boolean", describe: "remove every override" },
  },
  examples: ["tollgate keys limits key_123", "tollgate keys limits key_123 --rpm 60 --concurrency 4", "tollgate keys limits key_123 --tpm none"],
  async run(ctx, parsed) {
    const [id] = positionals(parsed, this, "keys limits");
    const o = parsed.options;
    const config = ctx.config();
    const given = LIMITS.filter((l) => o[l] !== undefined);
    if (o.clear && given.length) throw new UsageError("keys limits: --clear cannot be combined with --rpm, --tpm or --concurrency");
    let state = await getKeyLimits(await ctx.db(), config, id!);
    if (o.clear || given.length) {
      // Flags not given keep their current override.
      const next = { ...state.overrides };
      for (const l of LIMITS) if (o.clear) next[l] = null;
      for (const l of given) next[l] = parseLimit(l, String(o[l]));
      state = await setKeyLimits(await ctx.db(), config, id!, next, CLI_ACTOR);
    }
    const v = keyLimitsView(state);
    const show = (l: (typeof LIMITS)[number]) => `${v.effective[l]}${v.overrides[l] === null ? ` (plan ${v.plan})` : " (override)"}`;
    ctx.print(v, () => [
      ...(o.clear || given.length ? [`updated limits of ${id}`] : []),
      ...pairs([["key", v.key_id], ["account", v.account_id], ["plan", v.plan], ...LIMITS.map((l): [string, string] => [l, show(l)])]),
    ]);
  },
};
