import { expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBinaryGateway } from "./support/gateway";
import { WebClient } from "./support/web-client";

/** The demo banner leads a newcomer into both dashboards: portal by invite link, console by admin token. */
setDefaultTimeout(120_000);

test("tollgate demo prints the portal and console addresses and working sign-ins for both", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-demo-banner-"));
  const demo = await startBinaryGateway({ args: ["demo"], dir, adminToken: null });
  try {
    const out = demo.output();
    // What it printed before stays.
    expect(out).toMatch(/demo API key\s+sk-tg-\S+/);
    expect(out).toMatch(/API docs\s+http:\/\/127\.0\.0\.1:\d+\/swagger/);
    const origin = /gateway\s+(http:\/\/\S+)\/v1/.exec(out)![1]!;
    expect(out).toContain(`portal         ${origin}/portal`);
    expect(out).toContain(`console        ${origin}/console`);

    // The customer's one-time link opens the password form; choosing one signs in.
    const invite = /sign in as the demo customer[^:]*: (http:\/\/\S+)/.exec(out)![1]!;
    expect(invite).toStartWith(`${origin}/portal/invite/`);
    const customer = new WebClient(origin);
    const path = new URL(invite).pathname;
    const form = await customer.page(path);
    expect(form.res.status).toBe(200);
    expect(form.html).toContain("demo@example.com");
    const set = await customer.submit(path, path, { email: "demo@example.com", password: "demo password 123", confirm: "demo password 123" });
    expect(set.status).toBe(303);
    expect((await customer.page("/portal")).html).toContain("Demo customer");

    // The console signs in with the printed admin token.
    const token = /sign in with the admin token: (\S+)/.exec(out)![1]!;
    const operator = new WebClient(origin);
    const login = await operator.submit("/console/login", "/console/login", { token });
    expect(login.status).toBe(303);
    expect((await operator.page("/console/margins")).res.status).toBe(200);

    // The mock upstream bills the demo's first completion at the catalogue's list prices, as xAI
    // would: sold at list price, it shows no loss on the margins report.
    const m = (await (await fetch(`${origin}/admin/margins`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      totals: { requests: number; revenue_micros: number; upstream_cost_micros: number; loss_requests: number };
    };
    expect(m.totals.requests).toBe(1);
    expect(m.totals.upstream_cost_micros).toBeGreaterThan(0);
    expect({ loss_requests: m.totals.loss_requests, cost: m.totals.upstream_cost_micros }).toEqual({ loss_requests: 0, cost: m.totals.revenue_micros });
  } finally {
    await demo.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("HOST=:: (every address, IPv6 included): the demo calls and prints a loopback URL, serve a URL with brackets", async () => {
  const demo = await startBinaryGateway({ args: ["demo"], entry: "source", env: { HOST: "::" }, adminToken: null });
  try {
    const out = demo.output();
    // Its first streamed request went through that address and was charged.
    expect(out).toContain("First streamed completion (mock): ");
    const origin = /gateway\s+(\S+)\/v1/.exec(out)![1]!;
    expect(origin).toMatch(/^http:\/\/\[::1\]:\d+$/);
    expect(out).toContain(`API docs       ${origin}/swagger`);
    expect((await fetch(`${origin}/healthz`)).status).toBe(200);
  } finally {
    await demo.stop();
  }
  const serve = await startBinaryGateway({ entry: "source", env: { HOST: "::" } });
  try {
    const url = /listening on (\S+)/.exec(serve.output())![1]!;
    expect(url).toMatch(/^http:\/\/\[::\]:\d+$/);
    expect((await fetch(`http://[::1]:${new URL(url).port}/healthz`)).status).toBe(200);
  } finally {
    await serve.stop();
  }
});

// The operator's log is buffered (docs/operations.md, Logs): a stop that exits without flushing it
// loses the line of a request that finished while stopping, as serve's stop does not.
test("SIGTERM: a stream that finishes while the demo stops keeps its log line", async () => {
  const demo = await startBinaryGateway({ args: ["demo"], entry: "source", adminToken: null });
  try {
    const key = /demo API key\s+(\S+)/.exec(demo.output())![1]!;
    const res = await fetch(`${demo.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "grok-4.3", stream: true, messages: [{ role: "user", content: "Hello!" }] }),
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get("x-request-id")!;
    const body = res.text();
    // The mock streams 24 chunks 60 ms apart: the stop begins mid-stream.
    await Bun.sleep(300);
    demo.proc.kill("SIGTERM");
    expect(await body).toContain("data: [DONE]");
    expect(await demo.proc.exited).toBe(0);
    await Bun.sleep(200);
    expect(demo.output().split("\n").filter((l) => l.includes(requestId))).toHaveLength(1);
  } finally {
    await demo.stop("SIGKILL");
  }
});
