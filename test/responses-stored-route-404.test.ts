/**
 * Reading, listing the input items of, or deleting a stored response that meets an upstream 404
 * which does not name the response (a route's "404 page not found" from an ingress or an
 * OpenAI-compatible upstream during a redeploy; Express's "Cannot GET <path>" and OpenAI's own
 * "Invalid URL (GET <path>)", which echo the path asked and the id in it) is the upstream's failure: a 502, and the gateway
 * keeps its record, so the customer can read, continue and delete the response once the route is
 * back (the upstream still has it). Only a 404 naming the response says it is gone, as on a
 * continuation (test/responses-continuation-gone.test.ts): that one is answered 404 and the record
 * dropped, as before.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import type { MockUpstream } from "./support/fake-upstream";
import { onFrontedGateway } from "./support/fronted-upstream";
import type { Gateway } from "./support/gateway";

setDefaultTimeout(30_000);
const UPSTREAM_KEY = "upstream-secret-key-123";
let up: MockUpstream;
let g: Gateway;
/** The method whose stored-response routes the ingress in front of the upstream answers with a route 404. */
let routeMissing: "GET" | "DELETE" | null = null;
/** How the ingress words that route 404: plainly, as Express's page, or as OpenAI's route error (both echo the path). */
let wording: "plain" | "express" | "invalid-url" = "plain";
const routeMissingPage = (req: Request, path: string): Response => {
  if (wording === "express") {
    const page = `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot ${req.method} ${path}</pre>\n</body>\n</html>\n`;
    return new Response(page, { status: 404, headers: { "content-type": "text/html; charset=utf-8" } });
  }
  if (wording === "invalid-url") return Response.json({ error: { message: `Invalid URL (${req.method} ${path})`, type: "invalid_request_error", param: null, code: null } }, { status: 404 });
  return new Response("404 page not found", { status: 404, headers: { "content-type": "text/plain" } });
};
onFrontedGateway(
  (req, u) => (req.method === routeMissing && u.pathname.startsWith("/v1/responses/") ? routeMissingPage(req, u.pathname) : null),
  (g_, up_) => {
    g = g_;
    up = up_;
  },
);
type Outcome = { status?: number; code?: string | null };
const outcome = (p: PromiseLike<unknown>): Promise<Outcome> => Promise.resolve(p).then(() => ({ status: 200 }), (e: Outcome) => ({ status: e.status, code: e.code }));
const recorded = (id: string) => g.runtime.deps.store.sqlite.query("SELECT id FROM upstream_objects WHERE id = ? AND kind = 'response'").all(id).length;

async function stored(): Promise<{ o: OpenAI; id: string }> {
  const c = await g.customer(10_000_000);
  const o = new OpenAI({ apiKey: c.key, baseURL: `${g.url}/v1`, maxRetries: 0 });
  const r = await o.responses.create({ model: "grok-4", input: "hello", store: true });
  expect((await outcome(o.responses.retrieve(r.id))).status).toBe(200);
  return { o, id: r.id };
}

/** Each call while the ingress answers a route 404 to `method`. */
async function duringRoute404(method: "GET" | "DELETE", call: () => PromiseLike<unknown>): Promise<Outcome> {
  routeMissing = method;
  try {
    return await outcome(call());
  } finally {
    routeMissing = null;
  }
}

test("a route 404 on a read, an input-item list or a delete is the upstream's failure (502) and forgets nothing", async () => {
  const { o, id } = await stored();
  const during = {
    read: await duringRoute404("GET", () => o.responses.retrieve(id)),
    items: await duringRoute404("GET", () => o.responses.inputItems.list(id)),
    delete: await duringRoute404("DELETE", () => o.responses.delete(id)),
  };
  const failure = { status: 502, code: "upstream_error" };
  expect(during).toEqual({ read: failure, items: failure, delete: failure });
  expect(recorded(id)).toBe(1);

  // The upstream still has it: the customer still reads, continues and deletes it.
  const upstreamHasIt = (await fetch(`${up.url}/v1/responses/${id}`, { headers: { authorization: `Bearer ${UPSTREAM_KEY}` } })).status;
  const after = (await outcome(o.responses.retrieve(id))).status;
  const continuation = (await outcome(o.responses.create({ model: "grok-4", input: "and then?", previous_response_id: id }))).status;
  const deleted = (await outcome(o.responses.delete(id))).status;
  expect({ upstreamHasIt, after, continuation, deleted }).toEqual({ upstreamHasIt: 200, after: 200, continuation: 200, deleted: 200 });
  expect(recorded(id)).toBe(0);
});

for (const how of ["express", "invalid-url"] as const) {
  test(`a route 404 echoing the path asked (${how}) on a read, a list or a delete is a 502 and forgets nothing`, async () => {
    const { o, id } = await stored();
    wording = how;
    try {
      const failure = { status: 502, code: "upstream_error" };
      expect({
        read: await duringRoute404("GET", () => o.responses.retrieve(id)),
        items: await duringRoute404("GET", () => o.responses.inputItems.list(id)),
        delete: await duringRoute404("DELETE", () => o.responses.delete(id)),
      }).toEqual({ read: failure, items: failure, delete: failure });
    } finally {
      wording = "plain";
    }
    expect({ recorded: recorded(id), after: (await outcome(o.responses.retrieve(id))).status }).toEqual({ recorded: 1, after: 200 });
  });
}

test("a 404 naming the response (the upstream no longer has it) is still a 404 that forgets it", async () => {
  const { o, id } = await stored();
  const gone = await fetch(`${up.url}/v1/responses/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${UPSTREAM_KEY}` } });
  expect(gone.status).toBe(200);
  expect(await outcome(o.responses.retrieve(id))).toEqual({ status: 404, code: "not_found" });
  expect(recorded(id)).toBe(0);
  // From then on the gateway's own 404 for an id it does not know.
  expect(await outcome(o.responses.delete(id))).toEqual({ status: 404, code: "not_found" });
});
