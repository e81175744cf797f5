/**
 * A deferred request, and a stored response, live on the upstream key that made them (xAI keeps
 * them per team): the gateway records that key by a stable id (the provider and a short hash of
 * the key), not by its position in the provider's key list. Removing or replacing another key
 * then leaves them reachable: the customer still gets the result and is charged for it, where
 * the key's old position would have named no key (a 502 until the day was over) or another key
 * (whose 404 released the request for good: the operator paid the upstream, the customer got
 * nothing). Rows recorded by position still resolve by position, but a 404 there proves nothing
 * about the key that holds the object: it neither releases the request nor forgets the response.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { chat, user } from "./support/chat";
import { fakeCatalogue } from "./support/fake-upstream";
import { startGateway, type Customer, type Gateway } from "./support/gateway";

setDefaultTimeout(30_000);

const completion = {
  id: "c", object: "chat.completion", model: "grok-4",
  choices: [{ index: 0, message: { role: "assistant", content: "the answer" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 },
};
/** 7 prompt and 5 completion tokens of grok-4 (input 3, output 15 micros per token). */
const CHARGE = 7 * 3 + 5 * 15;
const response = (id: string) => ({
  id, object: "response", created_at: 1, model: "grok-4", status: "completed",
  output: [{ type: "message", id: `msg_${id}`, role: "assistant", status: "completed", content: [{ type: "output_text", text: "hi", annotations: [] }] }],
  usage: { input_tokens: 5, output_tokens: 3, total_tokens: 8 },
});

// An xAI-like upstream: a deferred request and a stored response belong to the key (team) that made them.
const owner = new Map<string, string>();
const up = Bun.serve({
  port: 0, hostname: "127.0.0.1",
  async fetch(req) {
    const key = req.headers.get("authorization") ?? "";
    const path = new URL(req.url).pathname;
    if (req.method === "POST") {
      await req.arrayBuffer();
      const id = `${path.endsWith("/responses") ? "resp" : "up"}_${crypto.randomUUID().replaceAll("-", "")}`;
      owner.set(id, key);
      return Response.json(path.endsWith("/responses") ? response(id) : { request_id: id });
    }
    const id = path.split("/").pop()!;
    // xAI's 404 for an id another team's key holds: its error envelope, naming the id.
    if (owner.get(id) !== key) return Response.json({ code: "Some requested entity was not found", error: `No object with id ${id}` }, { status: 404 });
    return Response.json(id.startsWith("resp") ? response(id) : completion);
  },
});
const dir = mkdtempSync(join(tmpdir(), "tollgate-key-pinning-"));
afterAll(() => {
  up.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

const catalogue = (keys: string[]) => {
  const c = fakeCatalogue(`http://127.0.0.1:${up.port}/v1`);
  const { api_key: _k, ...p } = c.providers[0]!;
  return { ...c, providers: [{ ...p, api_keys: keys }], retry: { max_attempts: 1 } };
};
const poll = (g: Gateway, c: Customer, id: string) => fetch(`${g.url}/v1/chat/deferred-completion/${id}`, { headers: { authorization: `Bearer ${c.key}` } });
const rowOf = (g: Gateway, id: string) =>
  g.runtime.deps.store.sqlite
    .query<{ target: string; upstream_id: string; settled_at: number | null; charge_micros: number | null }, [string]>(
      "SELECT target, upstream_id, settled_at, charge_micros FROM deferred_requests WHERE request_id = ?",
    )
    .get(id)!;

/** Two deferred requests on keys A and B (round robin); the gateway stopped; the id of the one on key B, and both rows' targets. */
async function parkedOnB(dbPath: string): Promise<{ c: Customer; onB: string; targets: string[] }> {
  const g = await startGateway({ config: catalogue(["xai-key-A", "xai-key-B"]), dbPath });
  const c = await g.customer(10_000_000);
  const ids: string[] = [];
  for (let i = 0; i < 2; i++) {
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user("later"), max_tokens: 50, deferred: true });
    expect(res.status).toBe(200);
    ids.push(((await res.json()) as { request_id: string }).request_id);
  }
  const rows = ids.map((id) => rowOf(g, id));
  await g.stop();
  const onB = ids[rows.findIndex((r) => owner.get(r.upstream_id) === "Bearer xai-key-B")]!;
  return { c, onB, targets: rows.map((r) => r.target) };
}

test("a deferred request records its key by a stable id: never the key, never its position", async () => {
  const { targets } = await parkedOnB(join(dir, "ids.db"));
  for (const t of targets) expect(t).toMatch(/^fake#k[0-9a-f]{12}$/);
  expect(new Set(targets).size).toBe(2);
});

test("removing another upstream key leaves a deferred request reachable on the key that holds it", async () => {
  const dbPath = join(dir, "removed.db");
  const { c, onB } = await parkedOnB(dbPath);
  // The operator drops key A (leaked, say) and restarts; key B, which holds the request, stays.
  const g = await startGateway({ config: catalogue(["xai-key-B"]), dbPath });
  try {
    const before = await g.balance(c.accountId);
    const res = await poll(g, c, onB);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe("the answer");
    expect(before - (await g.balance(c.accountId))).toBe(CHARGE);
  } finally {
    await g.stop();
  }
});

test("a new key in the removed key's place is not asked: the request is fetched from its own key and charged", async () => {
  const dbPath = join(dir, "replaced.db");
  const { c, onB } = await parkedOnB(dbPath);
  // Key A replaced by a new key C: B moves to the first position, C takes the second.
  const g = await startGateway({ config: catalogue(["xai-key-B", "xai-key-C"]), dbPath });
  try {
    const res = await poll(g, c, onB);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(rowOf(g, onB).charge_micros).toBe(CHARGE);
    // Its usage row names the key as every usage row does: by its position now.
    await g.runtime.deps.credits.flush();
    const used = g.runtime.deps.store.sqlite.query<{ upstream: string }, [string]>("SELECT upstream FROM usage_log WHERE request_id = ?").get(onB);
    expect(used?.upstream).toBe("fake#1");
  } finally {
    await g.stop();
  }
});

test("a row recorded by position still resolves by position, and a 404 there does not release the request", async () => {
  const dbPath = join(dir, "positional.db");
  const { c, onB } = await parkedOnB(dbPath);
  const g = await startGateway({ config: catalogue(["xai-key-B", "xai-key-C"]), dbPath });
  try {
    // As a gateway before stable ids recorded it: the second key, which is C now.
    g.runtime.deps.store.sqlite.run("UPDATE deferred_requests SET target = 'fake#2' WHERE request_id = ?", [onB]);
    expect((await poll(g, c, onB)).status).toBe(404);
    expect(rowOf(g, onB).settled_at).toBeNull();
    expect((await g.account(c.accountId)).held_micros).toBeGreaterThan(0);
    // At the position of the key that holds it, it is fetched and charged, as before.
    g.runtime.deps.store.sqlite.run("UPDATE deferred_requests SET target = 'fake#1' WHERE request_id = ?", [onB]);
    await Bun.sleep(450);
    const res = await poll(g, c, onB);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(rowOf(g, onB).charge_micros).toBe(CHARGE);
  } finally {
    await g.stop();
  }
});

test("a stored response stays readable on its key after another key is removed", async () => {
  const dbPath = join(dir, "responses.db");
  const g1 = await startGateway({ config: catalogue(["xai-key-A", "xai-key-B"]), dbPath });
  const c = await g1.customer(10_000_000);
  const sdk = (g: Gateway) => new OpenAI({ apiKey: c.key, baseURL: `${g.url}/v1`, maxRetries: 0 });
  const made: string[] = [];
  for (let i = 0; i < 2; i++) made.push((await sdk(g1).responses.create({ model: "grok-4", input: "hi", max_output_tokens: 50 })).id);
  await g1.stop();
  const onB = made.find((id) => owner.get(id) === "Bearer xai-key-B")!;
  const g2 = await startGateway({ config: catalogue(["xai-key-B", "xai-key-C"]), dbPath });
  try {
    expect((await sdk(g2).responses.retrieve(onB)).id).toBe(onB);
    // A continuation goes to the same key.
    const next = await sdk(g2).responses.create({ model: "grok-4", input: "more", previous_response_id: onB, max_output_tokens: 50 });
    expect(owner.get(next.id)).toBe("Bearer xai-key-B");
    // Recorded by position, at a position another key holds now: its 404 does not forget the response.
    const setTarget = (t: string) => g2.runtime.deps.store.sqlite.run("UPDATE upstream_objects SET target = ? WHERE id = ?", [t, onB]);
    setTarget("fake#2");
    expect(await sdk(g2).responses.retrieve(onB).then(() => 200, (e: { status: number }) => e.status)).toBe(404);
    setTarget("fake#1");
    expect((await sdk(g2).responses.retrieve(onB)).id).toBe(onB);
  } finally {
    await g2.stop();
  }
});
