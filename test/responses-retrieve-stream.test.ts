/**
 * The OpenAI SDK's `responses.retrieve(id, { stream: true })` and `responses.stream({ response_id })`
 * send GET /v1/responses/:id?stream=true and read events. The gateway does not replay a stored
 * response's events; answering its JSON would end the SDK's iterator with no event and no error.
 * It refuses `stream=true` with a 400 `unsupported_parameter` (param "stream") in the OpenAI
 * envelope, which the SDK raises, as `background: true` is refused on POST; a plain retrieve (or
 * `stream=false`) still answers the response, and the spec says so.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import { startGateway, type Gateway } from "./support/gateway";

setDefaultTimeout(20_000);
let g: Gateway;
beforeAll(async () => {
  g = await startGateway({ upstream: true });
});
afterAll(() => g.stop());

type Failure = { status?: number; code?: string | null; param?: string | null };
const failure = (e: unknown): Failure => {
  expect(e).toBeInstanceOf(OpenAI.APIError);
  const { status, code, param } = e as InstanceType<typeof OpenAI.APIError>;
  return { status, code, param };
};
const REFUSED = { status: 400, code: "unsupported_parameter", param: "stream" };

test("responses.retrieve(id, {stream: true}) and responses.stream({response_id}): a 400 APIError naming stream, not a silent empty stream", async () => {
  const c = await g.customer(10_000_000);
  const o = new OpenAI({ apiKey: c.key, baseURL: `${g.url}/v1`, maxRetries: 0 });
  const created = await o.responses.create({ model: "grok-4", input: "hello", store: true } as never);
  expect(created.status).toBe("completed");

  const retrieved = await (async () => {
    const s = await o.responses.retrieve(created.id, { stream: true } as never);
    for await (const _ of s as unknown as AsyncIterable<unknown>) return "an event";
    return "no event, no error";
  })().catch(failure);
  expect(retrieved).toEqual(REFUSED);
  const resumed = await o.responses.stream({ response_id: created.id } as never).finalResponse().catch(failure);
  expect(resumed).toEqual(REFUSED);

  // On the wire: the OpenAI envelope as JSON, with the request id.
  const raw = await fetch(`${g.url}/v1/responses/${created.id}?stream=true`, { headers: { authorization: `Bearer ${c.key}` } });
  expect([raw.status, raw.headers.get("content-type")]).toEqual([400, expect.stringContaining("application/json")]);
  expect(raw.headers.get("x-request-id")).toBeTruthy();
  expect(((await raw.json()) as { error: unknown }).error).toMatchObject({ type: "invalid_request_error", code: "unsupported_parameter", param: "stream" });

  expect((await o.responses.retrieve(created.id)).id).toBe(created.id);
  const plain = await fetch(`${g.url}/v1/responses/${created.id}?stream=false`, { headers: { authorization: `Bearer ${c.key}` } });
  expect(plain.status).toBe(200);
});

test("the OpenAPI description of GET /v1/responses/{id} says stream=true is refused", async () => {
  const spec = (await (await fetch(`${g.url}/openapi.json`)).json()) as { paths: Record<string, { get: { description?: string } }> };
  expect(spec.paths["/v1/responses/{id}"]!.get.description).toContain("`stream=true` is a 400 `unsupported_parameter`");
});
