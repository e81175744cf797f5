/**
 * The customer routes of the app (redeem, the low-balance alert, checkout) take a few fields: a
 * request without a valid key gets its 401 before any of its body is read, a keyed one is read up
 * to the forms' 64 KiB, and pathologically deep JSON is a 400 before any route parses it. Neither
 * a stranger nor a customer can make the gateway parse megabytes there.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "node:net";
import { CUSTOMER_BODY_ROUTES } from "../src/runtime/bounded-request";
import { METERED_APIS } from "../src/gateway/apis";
import { startGateway, type Gateway } from "./support/gateway";

let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({ upstream: true });
});
afterAll(() => gw?.stop());

type Envelope = { error: { code: string | null; type: string } };
const redeem = (body: string, key?: string) =>
  fetch(`${gw.url}/v1/credits/redeem`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body,
  });
const nested = (n: number) => `{"code":${"[".repeat(n)}${"]".repeat(n)}}`;

test("without a valid key: a 401, whatever the body (not a 400 about its contents)", async () => {
  const big = `{"code":[${Array.from({ length: 300_000 }, () => "[]").join(",")}]}`;
  for (const key of [undefined, "sk-tg-not-a-key"]) {
    for (const body of [big, nested(5_000), "{not json"]) {
      const res = await redeem(body, key);
      expect(res.status).toBe(401);
      expect(((await res.json()) as Envelope).error.type).toBe("invalid_request_error");
    }
  }
});

test("with a key: a body past 64 KiB is a 413, deep JSON a 400 json_too_deep, and nothing is redeemed", async () => {
  const c = await gw.customer(1_000_000);
  const large = await redeem(`{"code":"${"x".repeat(70 * 1024)}"}`, c.key);
  expect(large.status).toBe(413);
  expect(((await large.json()) as Envelope).error.code).toBe("request_too_large");
  const deep = await redeem(nested(5_000), c.key);
  expect(deep.status).toBe(400);
  expect(((await deep.json()) as Envelope).error.code).toBe("json_too_deep");
  // An ordinary unknown code still gets its own answer.
  const plain = await redeem(JSON.stringify({ code: "TG-NOPE-NOPE" }), c.key);
  expect([400, 404]).toContain(plain.status);
  expect(await gw.balance(c.accountId)).toBe(1_000_000);
});

test("admin bodies: deep JSON is a 400 json_too_deep too", async () => {
  const res = await fetch(`${gw.url}/admin/accounts`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${gw.adminToken}` },
    body: `{"name":"x","meta":${"[".repeat(5_000)}${"]".repeat(5_000)}}`,
  });
  expect(res.status).toBe(400);
  expect(((await res.json()) as Envelope).error.code).toBe("json_too_deep");
});

test("a CORS preflight framed with a (chunked, empty) body still gets its 204, no key asked", async () => {
  const head = await new Promise<string>((resolve, reject) => {
    const s = connect(Number(new URL(gw.url).port), "127.0.0.1", () =>
      s.write(
        "OPTIONS /v1/alerts/low-balance HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n" +
          "Access-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: authorization, content-type\r\n" +
          "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      ),
    );
    let out = "";
    s.on("data", (d) => {
      out += d.toString();
      if (out.includes("\r\n\r\n")) {
        s.destroy();
        resolve(out);
      }
    });
    s.on("error", reject);
  });
  expect(head.split("\r\n")[0]).toBe("HTTP/1.1 204 No Content");
});

test("every /v1 route of the app that takes a body is among those answered 401 before it (the spec says which)", async () => {
  const spec = (await (await fetch(`${gw.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { requestBody?: unknown }>> };
  const metered = new Set(METERED_APIS.map((a) => a.path));
  const withBody = Object.entries(spec.paths)
    .filter(([path, ops]) => path.startsWith("/v1/") && !metered.has(path) && Object.values(ops).some((op) => op.requestBody))
    .map(([path]) => path);
  expect(withBody.sort()).toEqual([...CUSTOMER_BODY_ROUTES].sort());
  // An unknown route is the app's 404, with a key or without.
  const unknown = await fetch(`${gw.url}/v1/embeddings`, { method: "POST", body: "{}" });
  expect(unknown.status).toBe(404);
});
