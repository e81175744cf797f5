/**
 * Continuing a stored response the upstream no longer has (its retention ran out, or it was
 * deleted with the shared key elsewhere) while the gateway still records it as the caller's: the
 * upstream answers 404 "Response with id … not found". The customer gets the 404 `not_found`
 * (param previous_response_id) that the OpenAI SDK raises as NotFoundError without retrying, as
 * `responses.retrieve` of that id does; not a 502 "model unavailable" retried twice. Nothing is
 * charged, no other upstream is tried, the key's breaker is not blamed, and the stale record is
 * dropped. Only a 404 that names the object says it is gone: one about the model, or a route's
 * ("404 page not found", FastAPI's {"detail":"Not Found"}), stays the deployment's failure and
 * every record is kept (the customer could never continue that response again).
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import type { SqliteStore } from "../src/store/sqlite-store";
import { startGateway, type Customer, type Gateway } from "./support/gateway";

setDefaultTimeout(20_000);
const CREDITS = 10_000_000;
let g: Gateway;
beforeAll(async () => {
  // Retries and failover on, as deployed: the 404 must end the call all the same.
  g = await startGateway({ upstream: true, singleShot: false });
});
afterAll(() => g.stop());

type Failure = { status?: number; code?: string | null; param?: string | null };
const outcome = (p: Promise<unknown>): Promise<Failure> => p.then(() => ({ status: 200 }), (e: Failure) => ({ status: e.status, code: e.code, param: e.param }));
const upstreamPosts = () => g.upstream.requests.filter((q) => q.method === "POST" && q.path.endsWith("/responses")).length;
const recorded = (id: string) => (g.runtime.deps.store as SqliteStore).sqlite.query("SELECT id FROM upstream_objects WHERE id = ?").all(id).length;
const failuresCounted = async () => ((await (await g.admin("/admin/upstreams")).json()) as { data: { failures: number }[] }).data[0]!.failures;

/** A stored response of `c`, then forgotten by the upstream (deleted there with the operator's key). */
async function storedThenGone(o: OpenAI): Promise<{ id: string; items: string[] }> {
  const r = (await o.responses.create({ model: "grok-4", input: "hello", store: true } as never)) as { id: string; output: { id: string }[] };
  const gone = await fetch(`${g.upstream.url}/v1/responses/${r.id}`, { method: "DELETE", headers: { authorization: "Bearer upstream-secret-key-123" } });
  expect(gone.status).toBe(200);
  return { id: r.id, items: r.output.map((i) => i.id) };
}

function counting(c: Customer) {
  const seen = { attempts: 0 };
  const fetchCounted = (async (u: RequestInfo | URL, i?: RequestInit) => {
    seen.attempts++;
    return fetch(u, i);
  }) as typeof fetch;
  return { seen, o: new OpenAI({ apiKey: c.key, baseURL: `${g.url}/v1`, maxRetries: 2, fetch: fetchCounted }) };
}

test("previous_response_id the upstream no longer has: a 404 NotFoundError, not a retried 502 'model unavailable'", async () => {
  const c = await g.customer(CREDITS);
  const { seen, o } = counting(c);
  const first = await storedThenGone(o);
  const balance = await g.balance(c.accountId);
  const [posts, failures] = [upstreamPosts(), await failuresCounted()];
  expect(recorded(first.id)).toBe(1);

  seen.attempts = 0;
  const err = await outcome(o.responses.create({ model: "grok-4", input: "and then?", previous_response_id: first.id } as never));
  expect({ ...err, attempts: seen.attempts }).toEqual({ status: 404, code: "not_found", param: "previous_response_id", attempts: 1 });
  expect(upstreamPosts() - posts).toBe(1);
  expect(await g.balance(c.accountId)).toBe(balance);
  expect(await failuresCounted()).toBe(failures);
  // Dropped as a read that meets the upstream's 404 drops it: the next try is the gateway's own 404.
  expect(recorded(first.id)).toBe(0);
  const stream = await outcome(o.responses.create({ model: "grok-4", input: "again", previous_response_id: first.id, stream: true } as never));
  expect(stream).toEqual({ status: 404, code: "not_found", param: "previous_response_id" });
  expect(upstreamPosts() - posts).toBe(1);
});

test("an item reference the upstream names as gone: the 404 names that item, and only its record is dropped", async () => {
  const c = await g.customer(CREDITS);
  const { o } = counting(c);
  const r = (await o.responses.create({ model: "grok-4", input: "hello", store: true } as never)) as { id: string; output: { id: string }[] };
  const item = r.output[0]!.id;
  const mock = { status: 404, error_body: { code: "Some requested entity was not found", error: `Item with id '${item}' not found` } };
  const err = await outcome(o.responses.create({ model: "grok-4", input: [{ type: "item_reference", id: item }], mock } as never));
  expect(err).toEqual({ status: 404, code: "not_found", param: "input.0.id" });
  expect([recorded(item), recorded(r.id)]).toEqual([0, 1]);
});

test("a 404 about the model on a continued request is still the deployment's: 502, the record kept", async () => {
  const c = await g.customer(CREDITS);
  const o = new OpenAI({ apiKey: c.key, baseURL: `${g.url}/v1`, maxRetries: 0 });
  const r = (await o.responses.create({ model: "grok-4", input: "hello", store: true } as never)) as { id: string };
  const mock = { status: 404, error_body: { code: "Some requested entity was not found", error: "The model grok-4-0709 does not exist or your team does not have access to it." } };
  const err = await outcome(o.responses.create({ model: "grok-4", input: "more", previous_response_id: r.id, mock } as never));
  expect(err).toEqual({ status: 502, code: "upstream_model_unavailable", param: null });
  expect(recorded(r.id)).toBe(1);
});

for (const [name, body] of [
  ["a plain-text route 404", "404 page not found"],
  ["a FastAPI route 404", { detail: "Not Found" }],
] as const) {
  test(`${name} on a continued request names nothing: 502, the record kept`, async () => {
    const c = await g.customer(CREDITS);
    const o = new OpenAI({ apiKey: c.key, baseURL: `${g.url}/v1`, maxRetries: 0 });
    const r = (await o.responses.create({ model: "grok-4", input: "hello", store: true } as never)) as { id: string };
    const mock = { status: 404, error_body: body };
    const err = await outcome(o.responses.create({ model: "grok-4", input: "more", previous_response_id: r.id, mock } as never));
    expect({ recorded: recorded(r.id), err }).toEqual({ recorded: 1, err: { status: 502, code: "upstream_model_unavailable", param: null } });
    expect((await outcome(o.responses.retrieve(r.id))).status).toBe(200);
  });
}
