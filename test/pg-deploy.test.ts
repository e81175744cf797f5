/**
 * The README's two-instance deploy, run as written: its shell block starts two compiled gateways
 * on one PostgreSQL database, its nginx block balances them; both serve, and when one dies the
 * other answers every request.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ensureBinary, ROOT } from "./support/binary";
import { fakeCatalogue, startFakeUpstream } from "./support/fake-upstream";
import { ADMIN_TOKEN, startBinaryGateway, type BinaryGateway } from "./support/gateway";
import { freshPostgres } from "./support/postgres";

setDefaultTimeout(120_000);
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const dir = mkdtempSync(join(tmpdir(), "tollgate-pgdeploy-"));
const upstream = startFakeUpstream();
const gws: BinaryGateway[] = [];
let nginx: Subprocess | undefined;
let proxy: string;

function readmeBlock(lang: string, marker: string): string {
  const block = [...readme.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!).find((b) => b.includes(marker));
  if (!block) throw new Error(`README.md has no \`\`\`${lang} block with ${marker}`);
  return block;
}

async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}

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
  const port = await freePort();
  const cert = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=llm.example.com",
    "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stderr: "pipe" });
  if (cert.exitCode !== 0) throw new Error(`openssl: ${cert.stderr}`);
  server = server
    .replace("listen 443 ssl;", `listen 127.0.0.1:${port} ssl;`)
    .replace(/ssl_certificate\s+\S+;/, `ssl_certificate ${join(dir, "cert.pem")};`)
    .replace(/ssl_certificate_key\s+\S+;/, `ssl_certificate_key ${join(dir, "key.pem")};`);
  const temp = join(dir, "nginx-temp");
  mkdirSync(temp);
  chmodSync(temp, 0o777);
  const paths = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `${t}_temp_path ${temp}/${t};`).join("\n");
  writeFileSync(join(dir, "nginx.conf"), `daemon off;\nworker_processes 1;\npid ${dir}/nginx.pid;\nerror_log stderr crit;\nevents {}\nhttp {\naccess_log off;\n${paths}\n${server}\n}\n`);
  nginx = Bun.spawn([Bun.which("nginx") ?? "/usr/sbin/nginx", "-e", "stderr", "-p", dir, "-c", join(dir, "nginx.conf")], { stdout: "ignore", stderr: "pipe" });
  proxy = `https://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(`${proxy}/healthz`, { tls: { rejectUnauthorized: false } });
      return;
    } catch {
      await Bun.sleep(25);
    }
  }
  throw new Error("nginx did not start");
});

afterAll(async () => {
  nginx?.kill();
  await nginx?.exited;
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
