/**
 * The records of stored responses and their items (upstream_objects: one row per response, one
 * per output item, one per input item a listing showed) are kept for
 * `stored_object_retention_days` (35 by default: the upstream keeps a stored response 30 days),
 * then deleted by the hourly retention job along with the usage roll-up, so the table does not
 * grow with every Responses request for the life of the gateway. A request naming a pruned
 * response gets the 404 of an id never recorded. The clean-up goes oldest first through the
 * created_at index, in slices of short transactions: a long backlog does not stall the event
 * loop. The same clean-up runs on PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import { StoredObjects } from "../src/gateway/stored-objects";
import { runRetention } from "../src/runtime/retention";
import { PgStore } from "../src/store/pg-store";
import { run } from "../src/store/work";
import { startGateway, TestClock, type Gateway } from "./support/gateway";
import { freshPostgres } from "./support/postgres";
import { loopLagDuring } from "./support/loop-lag";

setDefaultTimeout(60_000);
const DAY = 86_400_000;
const clock = new TestClock();
let g: Gateway;
beforeAll(async () => {
  g = await startGateway({ upstream: true, clock });
});
afterAll(() => g.stop());

const sqlite = () => g.runtime.deps.store.sqlite;
const count = (table: string) => sqlite().query<{ n: number }, []>(`SELECT count(*) AS n FROM ${table}`).get()!.n;
const recorded = (ids: string[]) => ids.filter((id) => sqlite().query("SELECT 1 FROM upstream_objects WHERE id = ?").get(id) !== null);
type Failure = { status?: number; code?: string | null; param?: string | null };
const outcome = (p: PromiseLike<unknown>): Promise<Failure> => Promise.resolve(p).then(() => ({ status: 200 }), (e: Failure) => ({ status: e.status, code: e.code, param: e.param }));

/** `n` stored responses of one customer: their ids and their output items' ids. */
async function storeResponses(o: OpenAI, n: number): Promise<string[][]> {
  const made: string[][] = [];
  for (let i = 0; i < n; i++) {
    const r = (await o.responses.create({ model: "grok-4", input: `hello ${i}`, mock: { reasoning_tokens: 3 } } as never)) as { id: string; output: { id: string }[] };
    made.push([r.id, ...r.output.map((item) => item.id)]);
  }
  // Recorded with their settlements (written out through the journal).
  await Bun.sleep(300);
  return made;
}

test("the hourly retention deletes records past stored_object_retention_days, and only those; a pruned response is an unknown id", async () => {
  const c = await g.customer(10_000_000);
  const o = new OpenAI({ apiKey: c.key, baseURL: `${g.url}/v1`, maxRetries: 0 });
  const old = (await storeResponses(o, 5)).flat();
  expect(recorded(old)).toEqual(old);
  expect(old.length).toBeGreaterThanOrEqual(10);

  // 34 days on, the upstream still has them: nothing is deleted.
  clock.add(34 * DAY);
  await runRetention(g.runtime.deps);
  expect(recorded(old)).toEqual(old);
  const recent = (await storeResponses(o, 1)).flat();

  // Past 35 days: the first five are gone (upstream too), the one made on day 34 stays.
  clock.add(2 * DAY);
  await runRetention(g.runtime.deps);
  expect({ old: recorded(old), recent: recorded(recent) }).toEqual({ old: [], recent });
  const pruned = old[0]!;
  expect(await outcome(o.responses.retrieve(pruned))).toEqual({ status: 404, code: "not_found", param: "id" });
  const continued = await outcome(o.responses.create({ model: "grok-4", input: "and then?", previous_response_id: pruned }));
  expect(continued).toEqual({ status: 404, code: "not_found", param: "previous_response_id" });

  // A year on, usage rows are rolled up by the same job, and no record is left.
  clock.add(365 * DAY);
  await runRetention(g.runtime.deps);
  expect({ usage: count("usage_log"), objects: count("upstream_objects") }).toEqual({ usage: 0, objects: 0 });
  expect(g.config.stored_object_retention_days).toBe(35);
});

test("the clean-up finds the oldest rows through the created_at index, and a backlog of 200,000 does not stall the event loop", async () => {
  const db = sqlite();
  const plan = db.query<{ detail: string }, []>("EXPLAIN QUERY PLAN SELECT id FROM upstream_objects WHERE created_at < 1 ORDER BY created_at LIMIT 1024").all();
  expect(plan.map((p) => p.detail).join("\n")).toMatch(/USING (COVERING )?INDEX upstream_objects_created/);

  const now = clock.now();
  const N = 200_000;
  db.run("BEGIN");
  const ins = db.prepare("INSERT INTO upstream_objects (id, kind, account_id, key_id, target, model, tokens, charge_micros, created_at) VALUES (?, 'item', 'acc', 'k', 'fake#1', 'grok-4', 0, 0, ?)");
  for (let i = 0; i < N; i++) ins.run(`msg_old_${i}`, now - 100 * DAY + i);
  ins.run("resp_kept", now - DAY);
  db.run("COMMIT");
  ins.finalize();

  let deleted = 0;
  const maxLag = await loopLagDuring(async () => {
    deleted = await g.runtime.deps.objects.prune(now - 35 * DAY);
  });
  expect({ deleted, left: recorded(["resp_kept"]) }).toEqual({ deleted: N, left: ["resp_kept"] });
  // One transaction for the lot stalls it for most of a second; a slice, milliseconds (with room for a loaded machine).
  expect(maxLag).toBeLessThan(150);
});

describe("on PostgreSQL", () => {
  let pg: PgStore;
  beforeAll(async () => {
    pg = await PgStore.open(await freshPostgres(), { poolSize: 2 });
  });
  afterAll(() => pg?.close());

  test("the same clean-up deletes only the rows past the retention, in slices", async () => {
    const row = (id: string, createdAt: number) => ({ id, kind: "item", accountId: "acc", keyId: null, target: "xai#1", model: "grok-4", tokens: 0, chargeMicros: 0, createdAt });
    const now = Date.now();
    const old = Array.from({ length: 25 }, (_, i) => row(`msg_old_${i}`, now - 40 * DAY + i));
    await pg.tx(function* (q) {
      yield* run(q.db.insert(q.t.upstreamObjects).values([...old, row("resp_kept", now - DAY)]));
    });
    expect(await new StoredObjects(pg).prune(now - 35 * DAY, 10)).toBe(25);
    const left = await pg.sql<{ id: string }[]>`SELECT id FROM upstream_objects`;
    expect(left.map((r) => r.id)).toEqual(["resp_kept"]);
  });
});
