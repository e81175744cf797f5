import { resolve } from "node:path";
import type { Config, Provider } from "../config/load";
import { recordAudit } from "../modules/audit/service";
import { isMarkupPercent, MARKUP_RULE, microsToUsd } from "../money/units";
import { priceFields, syncConfigFile } from "../sync/config-file";
import { diffCatalogue, isInSync, type CatalogueDiff } from "../sync/diff";
import { readXaiListing, type SyncPrices, type UpstreamModel } from "../sync/xai-listing";
import { UsageError } from "./args";
import { CLI_ACTOR, positionals, type CliContext, type GroupCommand } from "./command";

/** `--markup`: percent, up to two decimals (what withMarkup keeps), as the config's markup_percent. */
function parseMarkup(text: string): number {
  if (!isMarkupPercent(text)) throw new UsageError(`--markup: expected ${MARKUP_RULE}, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** The provider to read: the one named, else the first xAI one; it needs an API key. */
function xaiProvider(config: Config, id: string | undefined): Provider {
  const p = id === undefined ? config.providers.find((x) => x.kind === "xai") : config.providers.find((x) => x.id === id);
  if (!p) throw new UsageError(id === undefined ? "models sync: no xAI provider configured (or name one with --provider)" : `--provider: unknown provider ${JSON.stringify(id)}`);
  if (p.kind !== "xai") throw new UsageError(`--provider: ${p.id} is not an xAI provider (kind ${p.kind}); only xAI lists models with prices`);
  if (!p.api_key) throw new UsageError(`models sync: provider ${p.id} has no API key (api_key, api_key_env, api_key_file, or XAI_API_KEY)`);
  return p;
}

const tokens = (p: SyncPrices) => `input ${microsToUsd(p.input_price)}, cached ${microsToUsd(p.cached_input_price)}, output ${microsToUsd(p.output_price)} USD per 1M tokens`;

function describe(kind: "chat" | "image", p: SyncPrices): string {
  if (kind === "image") return `${microsToUsd(p.image_price)} USD per image`;
  const l = p.long_context;
  return l ? `${tokens(p)}; from ${l.above_tokens + 1} prompt tokens ${tokens({ ...p, ...l })}` : tokens(p);
}

/** The prices shown for a model, by name: "input 1.25", "long context …". */
function shown(kind: "chat" | "image", p: SyncPrices): [string, string][] {
  if (kind === "image") return [["image", microsToUsd(p.image_price)]];
  const l = p.long_context;
  const tier = l ? `long context from ${l.above_tokens + 1}: ${microsToUsd(l.input_price)} / ${microsToUsd(l.cached_input_price)} / ${microsToUsd(l.output_price)}` : "no long-context tier";
  return [["input", microsToUsd(p.input_price)], ["cached", microsToUsd(p.cached_input_price)], ["output", microsToUsd(p.output_price)], ["", tier]];
}

/** "input 1.25 → 1.5, output 2.5 → 3": the prices that differ. */
function changes(kind: "chat" | "image", a: SyncPrices, b: SyncPrices): string {
  const after = shown(kind, b);
  return shown(kind, a)
    .flatMap(([name, v], i) => (v === after[i]![1] ? [] : [`${name ? `${name} ` : ""}${v} → ${after[i]![1]}`]))
    .join(", ");
}

function humanLines(d: CatalogueDiff, head: string, tail: string): string[] {
  const w = Math.max(0, ...[...d.added, ...d.changed, ...d.unlisted].map((m) => m.id.length));
  const notes = (ns: string[]) => ns.map((n) => `${"".padEnd(w + 10)}note: ${n}`);
  return [
    head,
    ...d.added.flatMap((m) => [`new       ${m.id.padEnd(w)}  ${describe(m.kind, m.prices)}`, ...notes(m.notes)]),
    ...d.changed.flatMap((m) => [`changed   ${m.id.padEnd(w)}  ${changes(m.kind, m.before, m.after)}`, ...notes(m.notes)]),
    ...d.unlisted.map((m) => `unlisted  ${m.id.padEnd(w)}  upstream model ${m.upstream_model} is no longer listed; kept`),
    tail,
  ];
}

/** The diff as JSON, prices in USD as the config file writes them. */
function diffJson(d: CatalogueDiff) {
  return {
    added: d.added.map((m) => ({ id: m.id, kind: m.kind, prices: priceFields(m.kind, m.prices), notes: m.notes })),
    changed: d.changed.map((m) => ({ id: m.id, kind: m.kind, upstream_model: m.upstream_model, before: priceFields(m.kind, m.before), after: priceFields(m.kind, m.after), notes: m.notes })),
    unlisted: d.unlisted,
  };
}

/** Writes the diff and audits it (models.sync, the prices before and after). */
async function write(ctx: CliContext, file: string, d: CatalogueDiff, provider: Provider, markup: number): Promise<{ rewritten: boolean }> {
  const store = await ctx.db(); // opened first: a database problem stops the sync before the file changes
  const result = syncConfigFile(file, d, provider.id, ctx.env);
  const json = diffJson(d);
  const entry = {
    actor: CLI_ACTOR,
    action: "models.sync",
    targetType: "config",
    targetId: file,
    before: { models: Object.fromEntries(json.changed.map((m) => [m.id, m.before])) },
    after: {
      provider: provider.id,
      markup_percent: markup,
      models: Object.fromEntries([...json.changed.map((m) => [m.id, m.after]), ...json.added.map((m) => [m.id, m.prices])]),
    },
  };
  await store.tx((q) => recordAudit(q, entry, Date.now()), { durable: true });
  return result;
}

export const modelsCommand: GroupCommand = {
  summary: "The model catalogue",
  subcommands: {
    sync: {
      summary: "Compare the catalogue with xAI's models and prices; write new models and changed prices into the config file",
      options: {
        provider: { type: "string", value: "<id>", describe: "the xAI provider to read (default: the first one of kind xai)" },
        markup: { type: "string", value: "<percent>", describe: "list prices this much above xAI's, rounded up to the micro (default 0)" },
        "dry-run": { type: "boolean", describe: "show the differences, write nothing" },
      },
      examples: ["tollgate models sync --config tollgate.toml --dry-run", "tollgate models sync --config tollgate.json --markup 20", "tollgate models sync --config tollgate.toml --json | jq '.changed'"],
      async run(ctx, parsed) {
        positionals(parsed, this, "models sync");
        const o = parsed.options;
        const markup = parseMarkup(o.markup === undefined ? "0" : String(o.markup));
        const dryRun = o["dry-run"] === true;
        const given = ctx.flags.config ?? ctx.env.TOLLGATE_CONFIG;
        if (!given && !dryRun) throw new UsageError("models sync: name the config file to write with --config <file> (or use --dry-run)");
        const file = given ? resolve(given) : null;
        const config = ctx.config();
        const provider = xaiProvider(config, o.provider === undefined ? undefined : String(o.provider));
        const upstream: UpstreamModel[] = await readXaiListing(provider);
        const d = diffCatalogue(config.models, provider.id, upstream, markup);
        const inSync = isInSync(d);
        const { rewritten } = !inSync && !dryRun ? await write(ctx, file!, d, provider, markup) : { rewritten: false };
        const count = (k: string) => upstream.filter((u) => u.kind === k).length;
        const head = `xAI provider ${provider.id} (${provider.base_url}): ${count("chat")} language and ${count("image")} image models${markup ? `, markup ${markup}%` : ""}`;
        const tail = inSync
          ? "in sync: every listed model is in the catalogue at these prices"
          : dryRun
            ? "dry run: nothing written"
            : `wrote ${d.added.length} new and ${d.changed.length} changed model(s) to ${file}${rewritten ? " (written whole: its comments are gone)" : ""}`;
        const doc = { provider: provider.id, base_url: provider.base_url, markup_percent: markup, dry_run: dryRun, config_file: file, in_sync: inSync, written: !inSync && !dryRun, ...diffJson(d) };
        ctx.print(doc, () => humanLines(d, head, tail));
      },
    },
  },
};
