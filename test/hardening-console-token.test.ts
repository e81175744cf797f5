import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "./support/binary";
import { startBinaryGateway } from "./support/gateway";
import { WebClient } from "./support/web-client";

setDefaultTimeout(120_000);

/**
 * Changing the admin token is how an operator locks out whoever learnt the old one: console
 * sessions opened with the old token must end with it (the compiled binary, restarted on the
 * same database with another token).
 */
const OLD = "old-admin-token-0123456789abcdef";
const NEW = "new-admin-token-0123456789abcdef";
let dir: string;
beforeAll(async () => {
  await ensureBinary();
  dir = mkdtempSync(join(tmpdir(), "tollgate-console-token-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const serve = (token: string) => startBinaryGateway({ dir, dbPath: join(dir, "t.db"), adminToken: token });

describe("console sessions and the admin token", () => {
  test("a console session survives a restart with the same token and ends when the token changes", async () => {
    let gw = await serve(OLD);
    const op = new WebClient(gw.url);
    expect((await op.submit("/console/login", "/console/login", { token: OLD })).status).toBe(303);
    expect((await op.get("/console/accounts")).status).toBe(200);
    const cookie = op.cookies.get("tg_console")!;
    await gw.stop();

    gw = await serve(OLD);
    const same = new WebClient(gw.url);
    same.cookies.set("tg_console", cookie);
    expect((await same.get("/console/accounts")).status).toBe(200);
    await gw.stop();

    gw = await serve(NEW);
    try {
      const stale = new WebClient(gw.url);
      stale.cookies.set("tg_console", cookie);
      const res = await stale.get("/console/accounts");
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toStartWith("/console/login");
      // The new token opens a new session.
      const fresh = new WebClient(gw.url);
      expect((await fresh.submit("/console/login", "/console/login", { token: NEW })).status).toBe(303);
      expect((await fresh.get("/console/accounts")).status).toBe(200);
    } finally {
      await gw.stop();
    }
  });
});
