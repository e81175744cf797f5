/**
 * Items stored upstream under the key every customer shares are named in a Responses request by
 * id (`item_reference`, or any input item's `id`), and the upstream resolves them for whoever
 * knows the id. The gateway records a response's output items (and the input items its owner's
 * listing shows) for the response's owner, in the response's settlement, and lets a request name
 * only items its caller may reach; conversations, container ids and stored prompts, which no
 * customer can own here, are refused. Nothing refused reaches the upstream.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import OpenAI from "openai";
import { StoredObjects } from "../src/gateway/stored-objects";
import { SettleJournal } from "../src/money/settle-journal";
import { SqliteCreditStore } from "../src/money/sqlite-credit-store";
import type { SqliteStore } from "../src/store/sqlite-store";
import { freshDb, seedAccount, seedKey } from "./support/foundation";
import { startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startGateway, type Customer, type Gateway } from "./support/gateway";
import { join, portalKey } from "./support/teams";

setDefaultTimeout(60_000);

let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({ upstream: true });
});
afterAll(() => gw?.stop());

const client = (key: string, g: { url: string } = gw) => new OpenAI({ apiKey: key, baseURL: `${g.url}/v1`, maxRetries: 0 });
const mock = { prompt_tokens: 5, completion_tokens: 3, reasoning_tokens: 2 };
type Failure = { status?: number; param?: string | null; code?: string | null };
/** The SDK call's status (200 when it answered), with the error's param and code. */
const outcome = (p: Promise<unknown>): Promise<Failure> => p.then(() => ({ status: 200 }), (e: Failure) => ({ status: e.status, param: e.param, code: e.code }));
const create = (key: string, body: Record<string, unknown>, g: { url: string } = gw) =>
  client(key, g).responses.create({ model: "grok-4", max_output_tokens: 50, mock: { prompt_tokens: 5, completion_tokens: 3 }, ...body } as never);
/** How many Responses requests the fake upstream has received so far. */
const upstreamPosts = (u: MockUpstream = gw.upstream) => u.requests.filter((q) => q.method === "POST" && q.path.endsWith("/responses")).length;
const ref = (id: string) => ({ type: "item_reference", id });

/** A stored response of `c` (a reasoning item and a message), whole; its id and output item ids. */
async function storedWhole(c: Customer): Promise<{ id: string; items: string[] }> {
  const r = (await client(c.key).responses.create({ model: "grok-4", input: `${c.accountId}'s secret`, mock } as never)) as { id: string; output: { id: string }[] };
  return { id: r.id, items: r.output.map((o) => o.id) };
}

describe("output items are recorded for the response's owner", () => {
  test("a whole answer's: its owner references them, another account's request is a 404 naming the item, before the upstream", async () => {
    const [a, b] = [await gw.customer(), await gw.customer()];
    const resp = await storedWhole(b);
    expect(resp.items).toHaveLength(2);
    const rows = (gw.runtime.deps.store as SqliteStore).sqlite
      .query<{ kind: string; account_id: string; target: string }, [string, string]>("SELECT kind, account_id, target FROM upstream_objects WHERE id IN (?, ?)")
      .all(resp.items[0]!, resp.items[1]!);
    // The key that holds them, by its stable id (never its position in the list, nor the key).
    const target = gw.runtime.deps.upstreams.registry.targets[0]!.ref;
    expect(target).toMatch(/^fake#k[0-9a-f]{12}$/);
    expect(rows).toEqual([{ kind: "item", account_id: b.accountId, target }, { kind: "item", account_id: b.accountId, target }]);

    expect(await outcome(create(b.key, { input: [ref(resp.items[1]!), { role: "user", content: "repeat" }] }))).toEqual({ status: 200 });
    const before = upstreamPosts();
    // By reference, typed or in the API's bare {id} form; sent again as content; as a previous response.
    expect(await outcome(create(a.key, { input: [{ role: "user", content: "hi" }, ref(resp.items[1]!)] }))).toEqual({ status: 404, param: "input.1.id", code: "not_found" });
    expect(await outcome(create(a.key, { input: [{ id: resp.items[0]! }] }))).toEqual({ status: 404, param: "input.0.id", code: "not_found" });
    const copied = { type: "message", id: resp.items[1]!, role: "assistant", content: [{ type: "output_text", text: "?" }] };
    expect(await outcome(create(a.key, { input: [copied] }))).toEqual({ status: 404, param: "input.0.id", code: "not_found" });
    expect(await outcome(create(b.key, { input: "go on", previous_response_id: resp.items[1]! }))).toMatchObject({ status: 404, param: "previous_response_id" });
    expect(upstreamPosts()).toBe(before);
  });

  test("a stream's (its response.completed response's), as a whole answer's", async () => {
    const [a, b] = [await gw.customer(), await gw.customer()];
    const stream = await client(b.key).responses.create({ model: "grok-4", input: "B streams a secret", stream: true, mock } as never);
    let items: string[] = [];
    for await (const e of stream as unknown as AsyncIterable<{ type: string; response?: { output: { id: string }[] } }>) {
      if (e.type === "response.completed") items = e.response!.output.map((o) => o.id);
    }
    expect(items).toHaveLength(2);
    const before = upstreamPosts();
    for (const id of items) expect(await outcome(create(a.key, { input: [ref(id)] }))).toEqual({ status: 404, param: "input.0.id", code: "not_found" });
    expect(upstreamPosts()).toBe(before);
    expect(await outcome(create(b.key, { input: items.map(ref) }))).toEqual({ status: 200 });
  });

  test("input items once the owner's listing showed them; an id nobody recorded is a 404 by reference and passes as content", async () => {
    const [a, b] = [await gw.customer(), await gw.customer()];
    const made = await create(b.key, { input: [{ role: "user", content: "B's input secret" }] });
    const listed = await client(b.key).responses.inputItems.list((made as { id: string }).id);
    const inputId = listed.data[0]!.id!;
    expect(await outcome(create(b.key, { input: [ref(inputId)] }))).toEqual({ status: 200 });
    expect(await outcome(create(a.key, { input: [ref(inputId)] }))).toEqual({ status: 404, param: "input.0.id", code: "not_found" });
    expect(await outcome(create(a.key, { input: [ref("msg_nobody_recorded")] }))).toEqual({ status: 404, param: "input.0.id", code: "not_found" });
    expect(await outcome(create(a.key, { input: [{ type: "message", id: "msg_nobody_recorded", role: "user", content: "mine" }] }))).toEqual({ status: 200 });
  });
});

describe("who may reference an item", () => {
  test("as for previous_response_id: a member-role key its own member's, the owner any of the account's, no key one of a model it may not use", async () => {
    const c = await gw.customer(20_000_000);
    const email = (who: string) => `${who}-${crypto.randomUUID().slice(0, 8)}@example.com`;
    await join(gw, c.accountId, "owner", email("owner"));
    const m1 = await join(gw, c.accountId, "member", email("m1"));
    const m2 = await join(gw, c.accountId, "member", email("m2"));
    const [k1, k2] = [await portalKey(gw, m1.w, "m1"), await portalKey(gw, m2.w, "m2")];
    const owners = await storedWhole(c);
    const m1s = await storedWhole({ ...c, key: k1.key, keyId: k1.id });
    expect(await outcome(create(k1.key, { input: [ref(owners.items[1]!)] }))).toMatchObject({ status: 404 });
    expect(await outcome(create(k2.key, { input: [ref(m1s.items[1]!)] }))).toMatchObject({ status: 404 });
    expect(await outcome(create(k1.key, { input: [ref(m1s.items[1]!)] }))).toEqual({ status: 200 });
    expect(await outcome(create(c.key, { input: [ref(m1s.items[1]!)] }))).toEqual({ status: 200 });
    const cheap = await gw.key(c.accountId, { models: ["cheap"] });
    expect(await outcome(create(cheap.key, { model: "cheap", input: [ref(owners.items[1]!)] }))).toMatchObject({ status: 404, param: "input.0.id" });
  });
});

describe("conversations, container ids and stored prompts", () => {
  test("are 400 unsupported_parameter naming the param, before the upstream; a container given as an object passes", async () => {
    const c = await gw.customer();
    const before = upstreamPosts();
    const unsupported = (param: string) => ({ status: 400, param, code: "unsupported_parameter" });
    expect(await outcome(create(c.key, { input: "hi", conversation: "conv_someone_else" }))).toEqual(unsupported("conversation"));
    expect(await outcome(create(c.key, { input: "hi", conversation: { id: "conv_someone_else" } }))).toEqual(unsupported("conversation"));
    expect(await outcome(create(c.key, { input: "hi", prompt: { id: "pmpt_operators", variables: { a: "b" } } }))).toEqual(unsupported("prompt"));
    const tools = [{ type: "function", name: "f", parameters: {} }, { type: "code_interpreter", container: "cntr_someone_else" }];
    expect(await outcome(create(c.key, { input: "hi", tools }))).toEqual(unsupported("tools.1.container"));
    expect(upstreamPosts()).toBe(before);
    expect(await outcome(create(c.key, { input: "hi", tools: [{ type: "code_interpreter", container: { type: "auto" } }] }))).toEqual({ status: 200 });
  });
});

describe("pinned to the upstream key that stores the item", () => {
  test("a reference goes to that key, whatever the rotation; items on two keys cannot be combined", async () => {
    const upstream = startFakeUpstream();
    const g = await startGateway({ upstream, config: { providers: [{ id: "fake", base_url: upstream.url, kind: "xai", api_keys: ["upstream-key-one-0001", "upstream-key-two-0002"] }] } });
    try {
      const c = await g.customer();
      const keyOf = (n: number) => upstream.requests.filter((q) => q.method === "POST" && q.path.endsWith("/responses"))[n]!.headers.authorization;
      const made: { item: string; key: string }[] = [];
      for (let i = 0; i < 2; i++) {
        const r = (await create(c.key, { input: `stored ${i}` }, g)) as { output: { id: string }[] };
        made.push({ item: r.output[0]!.id, key: keyOf(upstreamPosts(upstream) - 1)! });
      }
      // Unpinned requests rotate over both keys, so the pin below is the reference's doing.
      expect(made[0]!.key).not.toBe(made[1]!.key);
      for (let i = 0; i < 4; i++) {
        await create(c.key, { input: [ref(made[0]!.item), { role: "user", content: "again" }] }, g);
        expect(keyOf(upstreamPosts(upstream) - 1)).toBe(made[0]!.key);
      }
      expect(await outcome(create(c.key, { input: [ref(made[0]!.item), ref(made[1]!.item)] }, g))).toEqual({ status: 404, param: "input.1.id", code: "not_found" });
    } finally {
      await g.stop();
    }
  });
});

describe("the items ride in the response's settlement", () => {
  test("journaled with the charge, found at once by their owner only, written at the next start when the process died first", async () => {
    const dir = mkdtempSync(joinPath(tmpdir(), "tollgate-items-"));
    try {
      const db = freshDb(joinPath(dir, "t.db"));
      const accountId = seedAccount(db, 10_000_000);
      const keyId = seedKey(db, accountId).row.id;
      const journal = SettleJournal.open(joinPath(dir, "t.db-settlements"));
      const store = new SqliteCreditStore(db, { holdTtlMs: 60_000, journal, applyMs: 3_600_000 });
      const object = { id: "resp_j1", kind: "response" as const, accountId, keyId, target: "xai#0", model: "grok-4", tokens: 40, chargeMicros: 120, createdAt: 5 };
      store.reserve({ accountId, keyId, requestId: "r1", amount: 1_000 });
      expect(await store.settle("r1", 120, { object, items: ["msg_j1", "rs_j1"] })).toEqual({ charged: 120, released: 880 });
      const count = (d: SqliteStore) => d.sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM upstream_objects WHERE kind = 'item'").get()!.n;
      // No write of their own: only the journal has them, and a reference right after the answer finds them.
      expect(count(db)).toBe(0);
      expect(journal.read()[0]!.extras?.items).toEqual(["msg_j1", "rs_j1"]);
      const found = await new StoredObjects(db).recorded(["msg_j1", "rs_j1", "resp_j1", "msg_other"], { accountId });
      expect([...found.values()].map((o) => [o.id, o.kind, o.mine, o.target]).sort()).toEqual([
        ["msg_j1", "item", true, "xai#0"],
        ["resp_j1", "response", true, "xai#0"],
        ["rs_j1", "item", true, "xai#0"],
      ]);
      expect([...(await new StoredObjects(db).recorded(["msg_j1"], { accountId: "acc_other" })).values()].map((o) => o.mine)).toEqual([false]);
      expect(count(db)).toBe(2);
      // Killed before its batch: the restart writes them, with the object's owner and key.
      store.reserve({ accountId, keyId, requestId: "r2", amount: 1_000 });
      await store.settle("r2", 7, { object: { ...object, id: "resp_j2" }, items: ["msg_j2"] });
      journal.close();
      const again = freshDb(joinPath(dir, "t.db"));
      const reopened = SettleJournal.open(joinPath(dir, "t.db-settlements"));
      new SqliteCreditStore(again, { holdTtlMs: 60_000, journal: reopened }).recover();
      const row = again.sqlite.query("SELECT kind, account_id AS a, key_id AS k, target FROM upstream_objects WHERE id = 'msg_j2'").get();
      expect(row).toEqual({ kind: "item", a: accountId, k: keyId, target: "xai#0" });
      expect(count(again)).toBe(3);
      reopened.close();
      again.close();
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
