/**
 * A request whose Host header is no host (`a?b`: one byte any client can send) leaves Bun a URL of
 * the path alone. It is a 400 in the API's envelope with its one log line, never a 500, and never
 * Bun's development error page (the server's working directory, file names and source lines),
 * whatever the route: the app's, a metered one, health. What escapes a handler is a plain 500.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";
import { rawRequest } from "./support/raw-http";

setDefaultTimeout(60_000);
let gw: BinaryGateway;
beforeAll(async () => {
  // The shipped binary, as `tollgate serve` runs, with the default (JSON) log.
  gw = await startBinaryGateway();
});
afterAll(() => gw.stop());

test("a malformed Host header is a 400 in the envelope, with nothing of the server's internals", async () => {
  const port = Number(new URL(gw.url).port);
  const targets = [["GET", "/healthz"], ["GET", "/portal/login"], ["POST", "/portal/login"], ["POST", "/admin/accounts"], ["GET", "/v1/models"], ["GET", "/nowhere"]] as const;
  for (const host of ["a?b", "x y", "a/b"]) {
    for (const [method, path] of targets) {
      const r = await rawRequest(port, method, path, { host, "content-type": "application/json" }, "{}");
      const leaks = ["__bunfallback", "source_lines", "server.ts", "cwd", "/src/"].filter((s) => r.body.includes(s));
      expect({ host, method, path, status: r.status, leaks }).toEqual({ host, method, path, status: 400, leaks: [] });
      expect(JSON.parse(r.body)).toMatchObject({ error: { type: "invalid_request_error", code: "invalid_host" } });
    }
  }
  // A metered route (Bun's router, by path) answers as for any request: here, no key.
  const metered = await rawRequest(port, "POST", "/v1/chat/completions", { host: "a?b", "content-type": "application/json" }, "{}");
  expect(metered.status).toBe(401);
  // Every request left its line, and nothing went to stderr.
  await Bun.sleep(100);
  expect(gw.output()).not.toContain("error:");
  expect(gw.output().split("\n").filter((l) => l.includes('"msg":"request"') && l.includes('"status":400')).length).toBe(18);
});
