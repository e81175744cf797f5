import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startMockUpstream, type MockUpstream } from "../src/demo/mock-upstream";
import { ensureBinary } from "./support/binary";
import { until } from "./support/chat";
import { fakeCatalogue } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";

// The compiled binary under `serve`, as an operator runs it (cpu_scheduling, src/runtime/cpu-scheduling.ts).
setDefaultTimeout(120_000);
const ADMIN = "sched-admin-token-0123456789";
const dir = mkdtempSync(join(tmpdir(), "tollgate-sched-"));
let upstream: MockUpstream;
const running: BinaryGateway[] = [];

beforeAll(async () => {
  await ensureBinary();
  upstream = startMockUpstream();
  // A plan far above the load: the rate limits still admit every request, none refuses one.
  const plans = { load: { rpm: 100_000_000, tpm: 10_000_000_000, concurrency: 100_000 } };
  writeFileSync(join(dir, "tollgate.json"), JSON.stringify({ ...fakeCatalogue(upstream.url), plans }));
});

afterAll(async () => {
  for (const b of running) await b.stop("SIGKILL");
  await upstream?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Scheduling policy of every thread of `pid` by thread name (0 normal, 3 SCHED_BATCH; field 41 of stat). */
function policies(pid: number): { name: string; policy: number }[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => ({
    name: readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim(),
    policy: Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ")[38]),
  }));
}

/**
 * Serves on its own database and checks that an idle gateway keeps the normal policy; then
 * proxies one paid request (Bun starts its HTTP client thread for it).
 */
async function serveAndProxy(env: Record<string, string>): Promise<BinaryGateway> {
  const db = join(dir, `${crypto.randomUUID()}.db`);
  const gw = await startBinaryGateway({ dir, configFile: "tollgate.json", adminToken: ADMIN, dbPath: db, env });
  running.push(gw);
  await Bun.sleep(300);
  expect(policies(gw.proc.pid).every((t) => t.policy === 0)).toBe(true);
  const { key } = await gw.customer(1_000_000, { name: "k" }, { name: "sched" });
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "hi" }] }),
  });
  expect(res.status).toBe(200);
  await res.text();
  return gw;
}

/** What the gateway said of its scheduling: the cpu_scheduling events of its JSON log. */
function said(gw: BinaryGateway): { level: string; message: string }[] {
  return gw
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{") && l.includes('"msg":"cpu_scheduling"'))
    .map((l) => JSON.parse(l) as { level: string; message: string })
    .map(({ level, message }) => ({ level, message }));
}

/**
 * Keeps the gateway's one core busy: all its threads pinned to one CPU (taskset), and 48 clients
 * sending paid requests back to back for `ms` or until `done`. This process (clients and mock
 * upstream) needs far less CPU per request than the gateway, so the gateway is what saturates.
 */
async function saturate(gw: BinaryGateway, ms: number, done: () => boolean = () => false): Promise<void> {
  const cpu = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ")[36];
  expect(Bun.spawnSync(["taskset", "-a", "-p", "-c", cpu === "0" ? "1" : "0", String(gw.proc.pid)]).exitCode).toBe(0);
  const { key } = await gw.customer(1_000_000_000, { name: "load" }, { name: "load", plan: "load" });
  const body = JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "hi" }] });
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  const end = performance.now() + ms;
  const client = async () => {
    while (performance.now() < end && !done()) {
      const res = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers, body });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: 48 }, client));
}

describe.if(process.platform === "linux" && Bun.which("chrt") !== null)("cpu_scheduling", () => {
  test("batch: from the first chat request, every thread of serve, the HTTP client thread included, runs under SCHED_BATCH", async () => {
    const gw = await serveAndProxy({ TOLLGATE_CPU_SCHEDULING: "batch" });
    // Applied by a child process the first request starts: wait for it rather than race it.
    expect(await until(() => policies(gw.proc.pid).every((t) => t.policy === 3), 5000)).toBe(true);
    const threads = policies(gw.proc.pid);
    expect(threads.map((t) => t.name)).toContain("HTTP Client");
    expect(threads.length).toBeGreaterThan(2);
    expect(gw.output()).not.toContain("not applied");
  });

  test("normal: the threads keep the normal policy, under load too", async () => {
    const gw = await serveAndProxy({ TOLLGATE_CPU_SCHEDULING: "normal" });
    await saturate(gw, 3000);
    const threads = policies(gw.proc.pid);
    expect(threads.map((t) => t.name)).toContain("HTTP Client");
    expect(threads.every((t) => t.policy === 0)).toBe(true);
    expect(said(gw)).toEqual([]);
  });

  test("auto (the default): the HTTP client thread alone goes to SCHED_BATCH while the gateway is saturated, and back after", async () => {
    const gw = await serveAndProxy({});
    // A gateway with time to spare (one request now and then) keeps the normal policy.
    await Bun.sleep(1200);
    expect(policies(gw.proc.pid).every((t) => t.policy === 0)).toBe(true);
    const httpBatch = () => policies(gw.proc.pid).some((t) => t.name === "HTTP Client" && t.policy === 3);
    let seen = false;
    await saturate(gw, 8000, () => (seen ||= httpBatch()));
    expect(seen).toBe(true);
    // Only that thread: the JavaScript thread still preempts it.
    expect(policies(gw.proc.pid).filter((t) => t.policy === 3).map((t) => t.name)).toEqual(["HTTP Client"]);
    expect(await until(() => policies(gw.proc.pid).every((t) => t.policy === 0), 5000)).toBe(true);
    // The log line follows the switch (the log is written in batches).
    expect(await until(() => said(gw).at(-1)?.message.includes("normal policy") === true, 5000)).toBe(true);
    const lines = said(gw);
    expect(lines[0]!.message).toMatch(/^cpu_scheduling "auto": the HTTP client thread now runs under SCHED_BATCH \(JavaScript thread demand \d+ %\)$/);
    expect(lines.at(-1)!.message).toMatch(/^cpu_scheduling "auto": the HTTP client thread now runs under the normal policy \(JavaScript thread demand \d+ %\)$/);
    expect(lines.every((l) => l.level === "info")).toBe(true);
  });

  test("without chrt on PATH it says so once and serves normally", async () => {
    const gw = await serveAndProxy({ TOLLGATE_CPU_SCHEDULING: "batch", PATH: "/nonexistent" });
    expect(await until(() => said(gw).length > 0, 5000)).toBe(true);
    expect(said(gw)).toEqual([{ level: "warn", message: 'cpu_scheduling "batch" not applied (chrt (util-linux) is not installed); threads keep the normal policy' }]);
    expect(policies(gw.proc.pid).every((t) => t.policy === 0)).toBe(true);
  });
});
