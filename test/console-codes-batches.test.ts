import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createCodes } from "../src/modules/codes/service";
import { startGateway, type Gateway } from "./support/gateway";
import { WebClient } from "./support/web-client";

/**
 * The console's Credit codes page reaches every batch: 50 a page, newest first, "Older →" to the
 * next by cursor (batches made in one millisecond neither skipped nor repeated), and a search by
 * batch id or note; a batch opened from an older page or a search keeps the list where it was.
 */
let gw: Gateway;
let first: string;
let tied: string[];
beforeAll(async () => {
  gw = await startGateway();
  first = ((await (await gw.admin("/admin/codes", { body: { count: 1, amount_micros: 1_000_000, note: "the very first promo" } })).json()) as { batch: string }).batch;
  // 55 batches in one millisecond, so that a page ends among them.
  const at = Date.now() + 1_000;
  tied = [];
  for (let i = 0; i < 55; i++) tied.push((await createCodes(gw.runtime.deps.store, { count: 1, amount_micros: 1_000_000, note: `promo ${i}` }, "admin:test", at)).batch);
});
afterAll(() => gw?.stop());

async function operator(): Promise<WebClient> {
  const w = new WebClient(gw.url);
  w.cookies.set("tg_console", await gw.session("admin", null));
  return w;
}

/** The batches a page links to, in order, and its "Older →" link. */
function read(html: string): { batches: string[]; older: string | undefined } {
  const batches = [...html.matchAll(/batch=([A-Za-z0-9_]+)"/g)].map((m) => m[1]!);
  const older = /href="(\/console\/codes\?[^"]*before=[^"]*)">Older/.exec(html)?.[1]?.replace(/&amp;/g, "&");
  return { batches, older };
}

describe("console credit code batches", () => {
  test("every one of 56 batches is reached by following Older, once each, newest first", async () => {
    const w = await operator();
    let html = (await w.page("/console/codes")).html;
    const seen: string[] = [];
    const pages: number[] = [];
    for (let hops = 0; hops < 5; hops++) {
      const { batches, older } = read(html);
      seen.push(...batches);
      pages.push(batches.length);
      if (!older) break;
      html = (await w.page(older)).html;
    }
    expect(pages).toEqual([50, 6]);
    expect(new Set(seen).size).toBe(56);
    expect(seen.at(-1)).toBe(first);
    expect(seen.slice(0, 55).sort()).toEqual([...tied].sort());
    expect(html).toContain(">Newest</a>");
  });

  test("a search by note or batch id finds an old batch; opening it keeps the search", async () => {
    const w = await operator();
    const byNote = read((await w.page("/console/codes?q=VERY%20first")).html);
    expect(byNote).toEqual({ batches: [first], older: undefined });
    const byId = await w.page(`/console/codes?q=${tied[7]}`);
    expect(read(byId.html).batches).toEqual([tied[7]!]);
    expect(byId.html).toContain(`Batches matching “${tied[7]}”`);
    const opened = await w.page(`/console/codes?q=very+first&batch=${first}`);
    expect(opened.html).toContain(`Codes in <span class="mono">${first}</span>`);
    expect(opened.html).toContain(`<a href="/console/codes?q=very+first">All batches</a>`);
    expect(read((await w.page("/console/codes?q=nothing+like+it")).html).batches).toEqual([]);
  });

  test("a before that is no cursor is a 400 page, never the first page again", async () => {
    const w = await operator();
    const { res, html } = await w.page("/console/codes?before=yesterday");
    expect(res.status).toBe(400);
    expect(html).toContain("not a cursor from a previous page");
  });
});
