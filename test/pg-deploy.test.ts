/**
 * The README's two-instance deploy, run as written: its shell block starts two compiled gateways
 * on one PostgreSQL database, its nginx block balances them; both serve, and when one dies the
 * other answers every request.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary, ROOT } from "./support/binary";
import { fakeCatalogue, startFakeUpstream } from "./support/fake-upstream";
import { ADMIN_TOKEN, startBinaryGateway, type BinaryGateway } from "./support/gateway";
import { fencedBlock, startTlsNginx, type Nginx } from "./support/nginx";
import { freshPostgres } from "./support/postgres";

setDefaultTimeout(120_000);
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const dir = mkdtempSync(join(tmpdir(), "tollgate-pgdeploy-"));
const upstream = startFakeUpstream();
const gws: BinaryGateway[] = [];
let nginx: Nginx | undefined;
let proxy: string;

const readmeBlock = (lang: string, marker: string) => fencedBlock(readme, "README.md", lang, marker);

beforeAll(async () => {
  await ensureBinary();
  const url = await freshPostgres();
  // The shell block: each line `PORT=… TOLLGATE_INSTANCE_ID=… dist/tollgate serve &`, on free ports.
  const starts = [...readmeBlock("sh", "TOLLGATE_DATABASE_URL").matchAll(/PORT=(\d+) TOLLGATE_INSTANCE_ID=(\S+) dist\/tollgate serve &/g)];
  expect(starts.length).toBe(2);
  let server = readmeBlock("nginx", "upstream tollgate");
  for (const [, port, id] of starts) {
    const gw = await startBinaryGateway({ config: fakeCatalogue(upstream.url), env: { TOLLGATE_DATABASE_URL: url, TOLLGATE_INSTANCE_ID: id! } });
    gws.push(gw);
    server = server.replace(`server 127.0.0.1:${port};`, `server 127.0.0.1:${new URL(gw.url).port};`);
  }
  nginx = await startTlsNginx(dir, server);
  proxy = nginx.url;
});

afterAll(async () => {
  await nginx?.stop();
  await Promise.all(gws.map((g) => g.stop("SIGKILL")));
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
});

const via = (path: string, init: RequestInit & { key?: string } = {}) =>
  fetch(proxy + path, {
    ...init,
    headers: { authorization: `Bearer ${init.key ?? ADMIN_TOKEN}`, "content-type": "application/json" },
    tls: { rejectUnauthorized: false },
  });

describe("the README's two instances behind nginx", () => {
  test("both instances answer through nginx, on one set of books; with one killed the other serves every request", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(((await (await via("/admin/upstreams")).json()) as { instance: string }).instance);
    expect([...seen].sort()).toEqual(["gw-a", "gw-b"]);

    const c = await gws[0]!.customer(1_000_000);
    const body = JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "hi" }], mock: { prompt_tokens: 10, completion_tokens: 5 } });
    for (let i = 0; i < 4; i++) expect((await via("/v1/chat/completions", { method: "POST", key: c.key, body })).status).toBe(200);
    expect(await gws[1]!.balance(c.accountId)).toBe(1_000_000 - 4 * (10 * 3 + 5 * 15));

    await gws[1]!.stop("SIGKILL");
    const after = await Promise.all(Array.from({ length: 10 }, () => via("/v1/chat/completions", { method: "POST", key: c.key, body }).then((r) => r.status)));
    expect(after).toEqual(Array(10).fill(200));
    expect(await gws[0]!.balance(c.accountId)).toBe(1_000_000 - 14 * (10 * 3 + 5 * 15));
  });
});
