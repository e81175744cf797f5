import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { sha256Hex } from "../src/lib/crypto";
import { BIN, ensureBinary } from "./support/binary";
import { startBinaryGateway } from "./support/gateway";

// bunfig.toml's [test] timeout is not applied here (runs showed the 5 s default): every test spawns processes.
setDefaultTimeout(120_000);

const folder = mkdtempSync(join(tmpdir(), "tollgate-bin-"));
const spawned: Subprocess[] = [];

beforeAll(async () => {
  // CI has just built it (.ci/test); rebuild only when a source is newer than the binary.
  await ensureBinary();
});

afterAll(() => {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  rmSync(folder, { recursive: true, force: true });
});

/** Only what the binary needs: nothing from this machine's Tollgate environment leaks in. */
const baseEnv = () => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: folder });

/** Starts `tollgate serve` in the folder on a free port; `startup` = stdout up to "listening". */
async function serve() {
  const b = await startBinaryGateway({ dir: folder, adminToken: null });
  spawned.push(b.proc);
  return { ...b, startup: b.output().split("\n").filter(Boolean) };
}

/** Every byte the database has on disk (main file, WAL and shared memory). */
function databaseBytes(): Buffer {
  const dataDir = join(folder, "data");
  const files = readdirSync(dataDir).filter((f) => f.startsWith("tollgate.db"));
  expect(files).toContain("tollgate.db");
  return Buffer.concat(files.map((f) => readFileSync(join(dataDir, f))));
}

describe("the compiled binary in an empty folder", () => {
  let adminToken: string;
  let accountId: string;
  const keys: string[] = [];

  const call = (url: string, path: string, init: { method?: string; body?: unknown; token?: string; headers?: Record<string, string> } = {}) =>
    fetch(url + path, {
      method: init.method ?? (init.body === undefined ? "GET" : "POST"),
      headers: { authorization: `Bearer ${init.token ?? adminToken}`, "content-type": "application/json", ...init.headers },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });

  test("first start migrates, prints an admin token once, and serves the whole story over HTTP", async () => {
    expect(readdirSync(folder)).toEqual([]);
    const s = await serve();
    expect(s.startup.some((l) => /applied \d+ migration/.test(l))).toBe(true);
    const tokenLine = s.startup.find((l) => l.startsWith("generated admin token"));
    adminToken = /(tg-admin-\S+)/.exec(tokenLine ?? "")![1]!;

    const acc = await call(s.url, "/admin/accounts", { body: { name: "Binary Co" } });
    expect(acc.status).toBe(201);
    accountId = ((await acc.json()) as { id: string }).id;

    // Two top-ups with the same Idempotency-Key: one ledger entry.
    const topup = () => call(s.url, `/admin/accounts/${accountId}/credits`, { body: { amount_micros: 5_000_000, note: "prepaid" }, headers: { "idempotency-key": "topup-1" } });
    const first = await topup();
    const second = await topup();
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(((await second.json()) as { id: number }).id).toBe(((await first.json()) as { id: number }).id);
    const ledger = (await (await call(s.url, `/admin/accounts/${accountId}/ledger`)).json()) as { data: unknown[] };
    expect(ledger.data).toHaveLength(1);

    const created = await call(s.url, `/admin/accounts/${accountId}/keys`, { body: { name: "script" } });
    expect(created.status).toBe(201);
    const key = (await created.json()) as { id: string; key: string };
    keys.push(key.key);

    const me = await call(s.url, "/v1/me", { token: key.key });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ object: "me", account_id: accountId, balance_micros: 5_000_000, available_micros: 5_000_000 });

    const rotated = await call(s.url, `/admin/keys/${key.id}/rotate`, { body: {} });
    expect(rotated.status).toBe(201);
    const next = (await rotated.json()) as { id: string; key: string };
    keys.push(next.key);
    expect((await call(s.url, "/v1/me", { token: key.key })).status).toBe(401);
    expect((await call(s.url, "/v1/me", { token: next.key })).status).toBe(200);

    const revoked = await call(s.url, `/admin/keys/${next.id}`, { method: "DELETE" });
    expect(revoked.status).toBe(200);
    expect(((await revoked.json()) as { status: string }).status).toBe("revoked");
    const denied = await call(s.url, "/v1/me", { token: next.key });
    expect(denied.status).toBe(401);
    expect(((await denied.json()) as { error: { code: string } }).error.code).toBe("invalid_api_key");

    // While the server runs, recent commits sit in the WAL: check it too.
    const live = databaseBytes();
    expect(live.includes(sha256Hex(next.key))).toBe(true);
    for (const k of keys) expect(live.includes(k)).toBe(false);
    expect(live.includes(adminToken)).toBe(false);

    expect(await s.stop()).toBe(0);
  });

  test("a second start migrates nothing and keeps every record", async () => {
    const s = await serve();
    try {
      expect(s.startup.filter((l) => /applied/.test(l))).toEqual([]);
      expect(s.startup.filter((l) => /admin token/.test(l))).toEqual([]);
      const account = await call(s.url, `/admin/accounts/${accountId}`);
      expect(account.status).toBe(200);
      expect(await account.json()).toMatchObject({ name: "Binary Co", balance_micros: 5_000_000, held_micros: 0 });
      const ledger = (await (await call(s.url, `/admin/accounts/${accountId}/ledger`)).json()) as { data: unknown[] };
      expect(ledger.data).toHaveLength(1);
      const list = (await (await call(s.url, `/admin/accounts/${accountId}/keys`)).json()) as { data: { status: string }[] };
      expect(list.data.map((k) => k.status)).toEqual(["revoked", "revoked"]);
      for (const k of keys) expect((await call(s.url, "/v1/me", { token: k })).status).toBe(401);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  test("requests arriving together right after start all wait for the app, which loads on first use", async () => {
    const s = await serve();
    try {
      // The very first requests of the process: the app, its docs and embedded assets load now.
      const get = (path: string) => call(s.url, path).then(async (r) => ({ status: r.status, type: r.headers.get("content-type") ?? "", text: await r.text() }));
      const [health, account, spec, swagger, bundle, uplot, login] = await Promise.all([
        get("/healthz"),
        get(`/admin/accounts/${accountId}`),
        get("/openapi.json"),
        get("/swagger"),
        get("/swagger/assets/swagger-ui-bundle.js"),
        get("/assets/uplot.js"),
        get("/portal/login"),
      ]);
      expect(health.status).toBe(200);
      expect(account.status).toBe(200);
      expect(JSON.parse(account.text)).toMatchObject({ id: accountId });
      expect(spec.status).toBe(200);
      const paths = Object.keys((JSON.parse(spec.text) as { paths: Record<string, unknown> }).paths);
      for (const p of ["/v1/chat/completions", "/admin/accounts", "/v1/me", "/healthz"]) expect(paths).toContain(p);
      expect(swagger.status).toBe(200);
      expect(swagger.text).toContain("/swagger/assets/swagger-ui-bundle.js");
      expect(bundle.status).toBe(200);
      expect(bundle.type).toContain("javascript");
      expect(bundle.text).toContain("SwaggerUIBundle");
      expect(uplot.status).toBe(200);
      expect(uplot.text).toContain("uPlot");
      expect(login.status).toBe(200);
      expect(login.type).toContain("text/html");
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  test("the CLI in the same binary works on that database", async () => {
    const run = (args: string[]) => Bun.spawnSync([BIN, ...args], { cwd: folder, env: baseEnv() });
    const migrate = run(["migrate", "--json"]);
    expect(migrate.exitCode).toBe(0);
    expect(JSON.parse(migrate.stdout.toString())).toMatchObject({ applied: 0 });
    const show = run(["accounts", "show", accountId, "--json"]);
    expect(show.exitCode).toBe(0);
    expect(JSON.parse(show.stdout.toString())).toMatchObject({ id: accountId, balance_micros: 5_000_000 });
    expect(run(["accounts", "show", "acc_missing"]).exitCode).toBe(1);
  });

  test("the database holds no plaintext key or admin token", () => {
    const bytes = databaseBytes();
    expect(bytes.includes(sha256Hex(keys[0]!))).toBe(true); // the bytes read are the right ones
    expect(keys).toHaveLength(2);
    for (const k of keys) {
      expect(bytes.includes(k)).toBe(false);
      // Nor the random part of it under another encoding of the prefix.
      expect(bytes.includes(k.slice(-40))).toBe(false);
    }
    expect(bytes.includes(adminToken)).toBe(false);
  });

  test("an invalid environment value exits 2 with one line naming the field", async () => {
    const proc = Bun.spawn([BIN, "serve"], { cwd: folder, env: { ...baseEnv(), PORT: "abc" }, stdout: "pipe", stderr: "pipe" });
    spawned.push(proc);
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(code).toBe(2);
    expect(out).toBe("");
    const lines = err.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("port");
    expect(lines[0]).toContain("PORT");
  });
});
