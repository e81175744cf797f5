import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startMockUpstream, type MockUpstream } from "../src/demo/mock-upstream";
import { ensureBinary } from "./support/binary";
import { until } from "./support/chat";
import { fakeCatalogue } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";

// The compiled binary under `serve`, as an operator runs it (cpu_scheduling, src/lib/cpu-scheduling.ts).
setDefaultTimeout(120_000);
const ADMIN = "sched-admin-token-0123456789";
const dir = mkdtempSync(join(tmpdir(), "tollgate-sched-"));
let upstream: MockUpstream;
const running: BinaryGateway[] = [];

beforeAll(async () => {
  await ensureBinary();
  upstream = startMockUpstream();
  writeFileSync(join(dir, "tollgate.json"), JSON.stringify(fakeCatalogue(upstream.url)));
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

  test("normal (the default): the threads keep the normal policy", async () => {
    const gw = await serveAndProxy({});
    await Bun.sleep(300);
    const threads = policies(gw.proc.pid);
    expect(threads.map((t) => t.name)).toContain("HTTP Client");
    expect(threads.every((t) => t.policy === 0)).toBe(true);
  });

  test("without chrt on PATH it says so once and serves normally", async () => {
    const gw = await serveAndProxy({ TOLLGATE_CPU_SCHEDULING: "batch", PATH: "/nonexistent" });
    expect(await until(() => gw.output().includes("not applied"), 5000)).toBe(true);
    expect(gw.output()).toContain('cpu_scheduling "batch" not applied (chrt (util-linux) is not installed)');
    expect(policies(gw.proc.pid).every((t) => t.policy === 0)).toBe(true);
  });
});
