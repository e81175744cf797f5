import type { Model } from "../config/load";
import { withMarkup } from "../money/pricing";
import type { SyncPrices, UpstreamModel } from "./xai-listing";

/** A model the upstream lists and the catalogue lacks. */
export interface AddedModel {
  id: string;
  kind: "chat" | "image";
  created?: number;
  context_window?: number;
  prices: SyncPrices;
  notes: string[];
}

/** A catalogue model whose list prices differ from the upstream's (markup applied). */
export interface ChangedModel {
  id: string;
  kind: "chat" | "image";
  upstream_model: string;
  before: SyncPrices;
  after: SyncPrices;
  notes: string[];
}

/** A catalogue model served by the provider under an id the upstream no longer lists. */
export interface UnlistedModel {
  id: string;
  upstream_model: string;
}

export interface CatalogueDiff {
  added: AddedModel[];
  changed: ChangedModel[];
  unlisted: UnlistedModel[];
}

/** The upstream's prices with the markup on top, each rounded up to our unit (the micro). */
export function marked(p: SyncPrices, markupPercent: number): SyncPrices {
  const up = (v: number) => withMarkup(v, markupPercent);
  const long = p.long_context;
  return {
    input_price: up(p.input_price),
    cached_input_price: up(p.cached_input_price),
    output_price: up(p.output_price),
    image_price: up(p.image_price),
    long_context: long && {
      above_tokens: long.above_tokens,
      input_price: up(long.input_price),
      cached_input_price: up(long.cached_input_price),
      output_price: up(long.output_price),
    },
  };
}

/** A catalogue model's prices in the same shape (a cached price left out is the input price). */
export function pricesOf(m: Model): SyncPrices {
  const long = m.long_context;
  return {
    input_price: m.input_price,
    cached_input_price: m.cached_input_price,
    output_price: m.output_price,
    image_price: m.image_price,
    long_context: long
      ? { above_tokens: long.above_tokens, input_price: long.input_price, cached_input_price: long.cached_input_price ?? long.input_price, output_price: long.output_price }
      : null,
  };
}

const samePrices = (a: SyncPrices, b: SyncPrices) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The catalogue against the upstream's list. Only models whose (first) provider is the synced
 * one take part; a model matches the upstream entry whose id or alias is its upstream model.
 */
export function diffCatalogue(models: readonly Model[], providerId: string, upstream: readonly UpstreamModel[], markupPercent: number): CatalogueDiff {
  const byName = new Map<string, UpstreamModel>();
  for (const u of upstream) for (const name of [u.id, ...u.aliases]) if (!byName.has(`${u.kind}:${name}`)) byName.set(`${u.kind}:${name}`, u);
  const diff: CatalogueDiff = { added: [], changed: [], unlisted: [] };
  const matched = new Set<UpstreamModel>();
  for (const m of models) {
    if (m.provider !== providerId) continue;
    const u = byName.get(`${m.kind}:${m.upstream_model}`);
    if (!u) {
      diff.unlisted.push({ id: m.id, upstream_model: m.upstream_model });
      continue;
    }
    matched.add(u);
    const before = pricesOf(m);
    const after = marked(u.prices, markupPercent);
    if (!samePrices(before, after)) diff.changed.push({ id: m.id, kind: m.kind, upstream_model: m.upstream_model, before, after, notes: u.notes });
  }
  const ids = new Set(models.map((m) => m.id));
  for (const u of upstream) {
    // An id already taken (by a model of another provider) is left alone rather than duplicated.
    if (matched.has(u) || ids.has(u.id)) continue;
    ids.add(u.id);
    diff.added.push({ id: u.id, kind: u.kind, created: u.created, context_window: u.context_window, prices: marked(u.prices, markupPercent), notes: u.notes });
  }
  return diff;
}

export const isInSync = (d: CatalogueDiff) => d.added.length === 0 && d.changed.length === 0;
