import { expect, setDefaultTimeout, test } from "bun:test";
import { createApp } from "../src/runtime/app";
import { loadConfig } from "../src/config/load";
import { buildRuntime } from "../src/runtime/server";
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
    expect(await ready.json()).toEqual({ status: "ready", database: "ok" });
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
  expect(await ready.json()).toEqual({ status: "unavailable", database: "error" });
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
    expect(await ready.json()).toEqual({ status: "unavailable", database: "ok" });
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  } finally {
    await s.stop();
  }
});
