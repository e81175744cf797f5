import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, ensureBinary, ROOT } from "./support/binary";
import { fakeCatalogue, startFakeUpstream } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";
import { fencedBlock, startTlsNginx, type Nginx } from "./support/nginx";

/**
 * The deployment page (docs/operations.md), run as written: its systemd unit passes `systemd-analyze
 * verify`, and its nginx server block (with a self-signed certificate) in front of the compiled
 * binary passes streams event by event and bodies up to Tollgate's own limit, so that the 413 a
 * client sees is Tollgate's envelope.
 */
setDefaultTimeout(120_000);
const ADMIN = "deploy-admin-token-0123456789";
const DOC = "docs/operations.md";
const doc = readFileSync(join(ROOT, DOC), "utf8");
const dir = mkdtempSync(join(tmpdir(), "tollgate-deploy-"));
const upstream = startFakeUpstream();
let gw: BinaryGateway;
let nginx: Nginx | undefined;
let key: string;
let proxyUrl: string;

/** The fenced block of `lang` in docs/operations.md that contains `marker`. */
const docBlock = (lang: string, marker: string) => fencedBlock(doc, DOC, lang, marker);

const run = (cmd: string[]) => {
  const p = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
};

beforeAll(async () => {
  await ensureBinary();
  gw = await startBinaryGateway({
    dir,
    configFile: join(dir, "tollgate.json"),
    config: { ...fakeCatalogue(upstream.url), db_path: join(dir, "tollgate.db") },
    adminToken: ADMIN,
  });
  key = (await gw.customer(50_000_000, {}, { name: "Deploy Co" })).key;

  // The page's server block in front of the gateway's port.
  const gatewayPort = new URL(gw.url).port;
  const server = docBlock("nginx", "proxy_pass").replace("proxy_pass http://127.0.0.1:8080;", `proxy_pass http://127.0.0.1:${gatewayPort};`);
  expect(server).toContain(`127.0.0.1:${gatewayPort}`);
  nginx = await startTlsNginx(dir, server);
  proxyUrl = nginx.url;
});

afterAll(async () => {
  await nginx?.stop();
  await gw?.stop("SIGKILL");
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
});

const viaProxy = (body: unknown) =>
  fetch(`${proxyUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    tls: { rejectUnauthorized: false },
  });

describe("the systemd unit of docs/operations.md", () => {
  test("passes systemd-analyze verify", () => {
    const unit = docBlock("ini", "[Service]").replaceAll("/usr/local/bin/tollgate", BIN);
    const file = join(dir, "tollgate.service");
    writeFileSync(file, unit);
    const r = run(["systemd-analyze", "verify", file]);
    expect(r.err.split("\n").filter((l) => l.includes("tollgate.service"))).toEqual([]);
    expect(r.code).toBe(0);
    // And it fails on a broken unit: the check is real.
    writeFileSync(file, unit.replace("ExecStart=/", "ExecStart=relative/"));
    expect(run(["systemd-analyze", "verify", file]).code).not.toBe(0);
  });
});

describe("the nginx block of docs/operations.md in front of the binary", () => {
  test("a stream passes event by event, not buffered", async () => {
    const started = performance.now();
    const res = await viaProxy({ model: "grok-4", stream: true, messages: [{ role: "user", content: "stream me" }], mock: { completion_tokens: 8, chunk_delay_ms: 150 } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let firstContentAt = 0;
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      text += decoder.decode(r.value, { stream: true });
      if (!firstContentAt && text.includes('"content"')) firstContentAt = performance.now() - started;
    }
    const endedAt = performance.now() - started;
    expect(text).toContain("data: [DONE]");
    // Eight tokens 150 ms apart: a buffering proxy would deliver the first with the last.
    expect(endedAt - firstContentAt).toBeGreaterThan(700);
  });

  test("a 2 MiB body reaches the gateway; one above max_body_bytes gets Tollgate's 413 envelope", async () => {
    const messages = [{ role: "user", content: "hello" }];
    const big = await viaProxy({ model: "grok-4", messages, metadata: { pad: "x".repeat(2 * 1024 * 1024) } });
    expect(big.status).toBe(200);
    await big.arrayBuffer();
    const tooBig = await viaProxy({ model: "grok-4", messages, metadata: { pad: "x".repeat(5 * 1024 * 1024) } });
    expect(tooBig.status).toBe(413);
    expect(((await tooBig.json()) as { error: { code: string } }).error.code).toBe("request_too_large");
  });

  test("answers given before the body is read (a bad key, an unknown route) reach the client through the proxy", async () => {
    const pad = "x".repeat(2 * 1024 * 1024);
    const badKey = await fetch(`${proxyUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer sk-tg-wrong", "content-type": "application/json" },
      body: JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: pad }] }),
      tls: { rejectUnauthorized: false },
    });
    expect(badKey.status).toBe(401);
    expect(((await badKey.json()) as { error: { code: string } }).error.code).toBe("invalid_api_key");
    const unknown = await fetch(`${proxyUrl}/v1/embeddings`, { method: "POST", body: pad, tls: { rejectUnauthorized: false } });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe("unknown_url");
  });
});
