/**
 * On PostgreSQL, a stored response's items ride in its settlement's group commit like the
 * response itself: recorded for the response's owner with its upstream key, read by every
 * instance, so another account's reference is a 404 whichever instance it reaches.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import { BudgetClock } from "../src/money/budget-clock";
import { PgCreditStore } from "../src/money/pg/pg-credit-store";
import { StoredObjects } from "../src/gateway/stored-objects";
import { PgStore } from "../src/store/pg-store";
import { run } from "../src/store/work";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import type { BinaryGateway } from "./support/gateway";
import { startPgGateways, type PgCluster } from "./support/pg-gateways";

setDefaultTimeout(180_000);

let upstream: MockUpstream;
let cluster: PgCluster;
let db: PgStore;
beforeAll(async () => {
  upstream = startFakeUpstream();
  cluster = await startPgGateways(2, { entry: "source", config: { ...fakeCatalogue(upstream.url), ...SINGLE_SHOT, log_format: "off" } });
  db = await PgStore.open(cluster.url, { poolSize: 4 });
});
afterAll(async () => {
  await db?.close();
  await cluster?.stop();
  await upstream?.stop();
});

const client = (g: BinaryGateway, key: string) => new OpenAI({ apiKey: key, baseURL: `${g.url}/v1`, maxRetries: 0 });
const status = (p: Promise<unknown>) => p.then(() => 200, (e: { status?: number; param?: string }) => `${e.status} ${e.param}`);
const ref = (id: string) => ({ type: "item_reference", id });
const mock = { prompt_tokens: 5, completion_tokens: 3, reasoning_tokens: 2 };

describe("items of stored responses on PostgreSQL", () => {
  test("recorded in the settlement's group commit; another instance reads them; the first owner of an id keeps it", async () => {
    const accountId = `acc_items_${crypto.randomUUID().slice(0, 8)}`;
    await db.tx(function* (q) {
      yield* run(q.db.insert(q.t.accounts).values({ id: accountId, name: accountId, balanceMicros: 1_000_000, createdAt: 1 }));
      yield* run(q.db.insert(q.t.ledgerEntries).values({ accountId, kind: "topup", amountMicros: 1_000_000, balanceAfterMicros: 1_000_000, createdAt: 1 }));
    });
    const credits = new PgCreditStore(db, { instanceId: "inst_items", holdTtlMs: 60_000, budgetClock: new BudgetClock() });
    const owners = { accountId, keyId: null, capKeyId: null, memberId: null };
    const object = { id: `resp_${accountId}`, kind: "response" as const, accountId, keyId: null, target: "xai#1", model: "grok-4", tokens: 40, chargeMicros: 120, createdAt: 5 };
    (await credits.prepare(owners, 1_000))();
    credits.reserve({ ...owners, requestId: `req_${accountId}`, amount: 1_000, freshId: true, live: true });
    expect(await credits.settle(`req_${accountId}`, 120, { object, items: [`msg_${accountId}`, `rs_${accountId}`] })).toEqual({ charged: 120, released: 880 });

    const other = await PgStore.open(cluster.url, { poolSize: 2 });
    try {
      const found = await new StoredObjects(other).recorded([`msg_${accountId}`, `rs_${accountId}`, "msg_none"], { accountId });
      expect([...found.values()].map((o) => [o.id, o.kind, o.mine, o.target, o.keyId]).sort()).toEqual([
        [`msg_${accountId}`, "item", true, "xai#1", null],
        [`rs_${accountId}`, "item", true, "xai#1", null],
      ]);
      expect((await new StoredObjects(other).recorded([`msg_${accountId}`], { accountId: "acc_other" })).get(`msg_${accountId}`)?.mine).toBe(false);
      // Another settlement naming the same item id (for another account) leaves it with its first owner.
      (await credits.prepare(owners, 1_000))();
      credits.reserve({ ...owners, requestId: `req2_${accountId}`, amount: 1_000, freshId: true, live: true });
      await credits.settle(`req2_${accountId}`, 1, { object: { ...object, id: `resp2_${accountId}`, accountId: "acc_other" }, items: [`msg_${accountId}`] });
      expect((await new StoredObjects(other).recorded([`msg_${accountId}`], { accountId })).get(`msg_${accountId}`)?.mine).toBe(true);
    } finally {
      await other.close();
    }
  });

  test("each item keeps its size, the most a reference to it is billed: the settlement's, else its response's", async () => {
    const accountId = `acc_sizes_${crypto.randomUUID().slice(0, 8)}`;
    await db.tx(function* (q) {
      yield* run(q.db.insert(q.t.accounts).values({ id: accountId, name: accountId, balanceMicros: 1_000_000, createdAt: 1 }));
      yield* run(q.db.insert(q.t.ledgerEntries).values({ accountId, kind: "topup", amountMicros: 1_000_000, balanceAfterMicros: 1_000_000, createdAt: 1 }));
    });
    const credits = new PgCreditStore(db, { instanceId: "inst_sizes", holdTtlMs: 60_000, budgetClock: new BudgetClock() });
    const owners = { accountId, keyId: null, capKeyId: null, memberId: null };
    const object = { id: `resp_${accountId}`, kind: "response" as const, accountId, keyId: null, target: "xai#1", model: "grok-4", tokens: 40, chargeMicros: 120, createdAt: 5 };
    for (const [n, extras] of [[1, { object, items: [`msg_${accountId}`], itemTokens: 7 }], [2, { object: { ...object, id: `resp2_${accountId}` }, items: [`old_${accountId}`] }]] as const) {
      (await credits.prepare(owners, 1_000))();
      credits.reserve({ ...owners, requestId: `req${n}_${accountId}`, amount: 1_000, freshId: true, live: true });
      await credits.settle(`req${n}_${accountId}`, 1, extras);
    }
    const found = await new StoredObjects(db).recorded([`msg_${accountId}`, `old_${accountId}`], { accountId });
    expect([found.get(`msg_${accountId}`)?.tokens, found.get(`old_${accountId}`)?.tokens]).toEqual([7, 40]);
  });

  test("each item names the response it came with (the hold's group): the settlement's, or the response whose listing showed it", async () => {
    const accountId = `acc_groups_${crypto.randomUUID().slice(0, 8)}`;
    await db.tx(function* (q) {
      yield* run(q.db.insert(q.t.accounts).values({ id: accountId, name: accountId, balanceMicros: 1_000_000, createdAt: 1 }));
    });
    const credits = new PgCreditStore(db, { instanceId: "inst_groups", holdTtlMs: 60_000, budgetClock: new BudgetClock() });
    const owners = { accountId, keyId: null, capKeyId: null, memberId: null };
    // Two answers recorded in the same millisecond at the same size: only the response id tells them apart.
    const object = { id: `resp_${accountId}`, kind: "response" as const, accountId, keyId: null, target: "xai#1", model: "grok-4", tokens: 40, chargeMicros: 1, createdAt: 5 };
    for (const n of [1, 2]) {
      (await credits.prepare(owners, 1_000))();
      credits.reserve({ ...owners, requestId: `req${n}_${accountId}`, amount: 1_000, freshId: true, live: true });
      await credits.settle(`req${n}_${accountId}`, 1, { object: { ...object, id: `resp${n}_${accountId}` }, items: [`msg${n}_${accountId}`], itemTokens: 7 });
    }
    const objects = new StoredObjects(db);
    await objects.learn({ ...object, id: `resp1_${accountId}` }, [`in1_${accountId}`], 5);
    const found = await objects.recorded([`resp1_${accountId}`, `msg1_${accountId}`, `msg2_${accountId}`, `in1_${accountId}`], { accountId });
    expect([...found.values()].map((o) => [o.id, o.responseId]).sort()).toEqual([
      [`in1_${accountId}`, `resp1_${accountId}`],
      [`msg1_${accountId}`, `resp1_${accountId}`],
      [`msg2_${accountId}`, `resp2_${accountId}`],
      [`resp1_${accountId}`, null],
    ]);
  });

  test("over HTTP: recorded by one instance, refused to another account by the other, served to the owner by either", async () => {
    const [g0, g1] = cluster.gateways as [BinaryGateway, BinaryGateway];
    const a = await g0.customer(10_000_000);
    const b = await g0.customer(10_000_000);
    const whole = (await client(g0, b.key).responses.create({ model: "grok-4", input: "B's secret", mock } as never)) as { id: string; output: { id: string }[] };
    let streamed: string[] = [];
    const stream = await client(g1, b.key).responses.create({ model: "grok-4", input: "B's streamed secret", stream: true, mock } as never);
    for await (const e of stream as unknown as AsyncIterable<{ type: string; response?: { output: { id: string }[] } }>) {
      if (e.type === "response.completed") streamed = e.response!.output.map((o) => o.id);
    }
    const listed = await client(g1, b.key).responses.inputItems.list(whole.id);
    const ids = [...whole.output.map((o) => o.id), ...streamed, listed.data[0]!.id!];
    expect(ids).toHaveLength(5);
    const posts = () => upstream.requests.filter((q) => q.method === "POST" && q.path.endsWith("/responses")).length;
    const before = posts();
    for (const [i, id] of ids.entries()) {
      const g = i % 2 ? g0 : g1;
      expect(await status(client(g, a.key).responses.create({ model: "grok-4", input: [ref(id)] } as never))).toBe("404 input.0.id");
    }
    expect(posts()).toBe(before);
    expect(await status(client(g1, b.key).responses.create({ model: "grok-4", input: ids.map(ref) } as never))).toBe(200);
  });
});
