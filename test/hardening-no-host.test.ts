/**
 * HTTP/1.0 needs no Host header (RFC 1945; HTTP/1.1 requires it), and balancers' health checks
 * send none: HAProxy's `option httpchk GET /readyz` writes "GET /readyz HTTP/1.0" and nothing
 * else. Such a request is read against the listener's own address and answered as with a Host
 * (it was a 400 invalid_host, and every healthy instance looked down), always as a path (a
 * target `//x/...` names no host x) and whatever the listener's address; a Host that is no host
 * is still a 400.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { loadConfig } from "../src/config/load";
import { buildRuntime, startServer } from "../src/runtime/server";
import { ADMIN_TOKEN } from "./support/gateway";
import { parseRaw, raw, startLogged, type LoggedGateway } from "./support/logged-gateway";

setDefaultTimeout(30_000);
let gw: LoggedGateway;
beforeAll(async () => {
  gw = await startLogged();
});
afterAll(async () => {
  await gw?.stop();
});

test.each(["/healthz", "/readyz"])("GET %s over HTTP/1.0 without a Host header answers as with one", async (path) => {
  const withHost = parseRaw(await raw(gw.port, `GET ${path} HTTP/1.0\r\nhost: 127.0.0.1\r\n\r\n`, "", { waitMs: 1000 }));
  const without = parseRaw(await raw(gw.port, `GET ${path} HTTP/1.0\r\n\r\n`, "", { waitMs: 1000 }));
  expect([withHost.status, without.status]).toEqual([200, 200]);
  expect(without.body).toBe(withHost.body);
});

test("a Host that is no host is still a 400 invalid_host", async () => {
  const r = parseRaw(await raw(gw.port, "GET /healthz HTTP/1.1\r\nhost: a?b\r\n\r\n", "", { waitMs: 1000 }));
  expect(r.status).toBe(400);
  expect(r.body).toContain("invalid_host");
});

test("a target `//x/admin/...` without Host is that path, not /admin/... on a host x", async () => {
  const target = "//evil.example/admin/accounts";
  const auth = `authorization: Bearer ${ADMIN_TOKEN}\r\n`;
  const withHost = parseRaw(await raw(gw.port, `GET ${target} HTTP/1.1\r\nhost: 127.0.0.1\r\n${auth}connection: close\r\n\r\n`, "", { waitMs: 1000 }));
  const without = parseRaw(await raw(gw.port, `GET ${target} HTTP/1.0\r\n${auth}\r\n`, "", { waitMs: 1000 }));
  expect([withHost.status, without.status]).toEqual([404, 404]);
});

test("on an IPv6 listener too (its address is no URL host as it is)", async () => {
  const runtime = buildRuntime(loadConfig({ env: {}, overrides: { db_path: ":memory:", log_format: "off", admin_token: ADMIN_TOKEN } }), {});
  const server = startServer(runtime, { port: 0, hostname: "::1" });
  try {
    const text = await new Promise<string>((resolve, reject) => {
      let buf = "";
      void Bun.connect({ hostname: "::1", port: server.port!, socket: { open: (s) => void s.write("GET /healthz HTTP/1.0\r\n\r\n"), data: (_s, d) => void (buf += d.toString()), close: () => resolve(buf), error: (_s, e) => reject(e) } });
    });
    expect(parseRaw(text).status).toBe(200);
  } finally {
    await server.stop();
    runtime.deps.store.close();
  }
});
