import { expect, setDefaultTimeout, test } from "bun:test";
import { createApp } from "../src/runtime/app";
import { loadConfig } from "../src/config/load";
import { buildRuntime } from "../src/runtime/server";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chat, user } from "./support/chat";
import { startGateway } from "./support/gateway";

setDefaultTimeout(30_000);

test("GET /healthz and /readyz answer without credentials", async () => {
  const s = await startGateway();
  try {
    const health = await fetch(`${s.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    expect(health.headers.get("x-request-id")).toStartWith("req_");
    const ready = await fetch(`${s.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", database: "ok", settlements: "ok" });
    // Credentials are ignored, wrong ones too.
    expect((await fetch(`${s.url}/healthz`, { headers: { authorization: "Bearer nope" } })).status).toBe(200);
  } finally {
    await s.stop();
  }
});

test("/readyz is 503 when the database does not answer, while /healthz stays 200", async () => {
  const runtime = buildRuntime(loadConfig({ overrides: { db_path: ":memory:", admin_token: "health-admin-token-0123" } }));
  const app = createApp(runtime.deps);
  expect((await app.handle(new Request("http://localhost/readyz"))).status).toBe(200);
  runtime.deps.store.sqlite.close();
  const ready = await app.handle(new Request("http://localhost/readyz"));
  expect(ready.status).toBe(503);
  expect(await ready.json()).toEqual({ status: "unavailable", database: "error", settlements: "ok" });
  const health = await app.handle(new Request("http://localhost/healthz"));
  expect(health.status).toBe(200);
});

test("/readyz is 503 once the gateway is shutting down, while /healthz stays 200", async () => {
  const s = await startGateway();
  try {
    expect((await fetch(`${s.url}/readyz`)).status).toBe(200);
    // What SIGTERM does first; the kept-alive connection still reaches the gateway.
    await s.runtime.deps.upstreams.traffic.drain(0);
    const ready = await fetch(`${s.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: "unavailable", database: "ok", settlements: "ok" });
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  } finally {
    await s.stop();
  }
});

test("/readyz is 503 while charges cannot be recorded (a full disk), and ready again once one is", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-ready-"));
  const s = await startGateway({ upstream: true, dbPath: join(dir, "tollgate.db") });
  const ready = async () => {
    const r = await fetch(`${s.url}/readyz`);
    return [r.status, ((await r.json()) as { settlements: string }).settlements];
  };
  try {
    const c = await s.customer(10_000_000);
    const journal = (s.runtime.deps.credits as unknown as { sink: { o: { journal: { append: (r: unknown[]) => void } } } }).sink.o.journal;
    const append = journal.append;
    journal.append = () => {
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    };
    // A whole answer whose charge fails is a 500, and nothing retries it: readiness tells.
    const whole = await chat(s.url, c.key, { model: "grok-4", messages: user(), mock: { prompt_tokens: 10, completion_tokens: 5 } });
    expect(whole.status).toBe(500);
    expect(await ready()).toEqual([503, "failing"]);
    // New requests are refused meanwhile, but for one a second that tries again: a stream, whose
    // charge then waits for its retry (still failing until it is written).
    const refused = await chat(s.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: { prompt_tokens: 10, completion_tokens: 5 } });
    expect([refused.status, ((await refused.json()) as { error: { code: string } }).error.code]).toEqual([503, "charges_failing"]);
    let streamed = refused;
    for (const t0 = Date.now(); streamed.status === 503 && Date.now() - t0 < 5_000; await Bun.sleep(100)) {
      streamed = await chat(s.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: { prompt_tokens: 10, completion_tokens: 5 } });
    }
    expect(await streamed.text()).toContain("Could not record the charge.");
    expect(await ready()).toEqual([503, "failing"]);
    journal.append = append;
    const deadline = Date.now() + 5_000;
    while ((await ready())[0] !== 200 && Date.now() < deadline) await Bun.sleep(50);
    expect(await ready()).toEqual([200, "ok"]);
    // The stream's charge is in; the whole answer (a 500) is not charged, and its hold is released
    // once the storage takes that too.
    expect(s.runtime.deps.credits.balance(c.accountId).balance).toBe(10_000_000 - (10 * 3 + 5 * 15));
    while (s.runtime.deps.credits.balance(c.accountId).held > 0 && Date.now() < deadline + 5_000) await Bun.sleep(50);
    expect(s.runtime.deps.credits.balance(c.accountId).held).toBe(0);
  } finally {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
