import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { keepFreedMemory, sameCommand, type ProcessLike } from "../src/runtime/allocator";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";

/**
 * `serve` restarts itself once so that the allocator keeps freed memory (runtime/allocator.ts):
 * the process that answers has MIMALLOC_PURGE_DELAY=-1 in its environment, keeps its process id
 * (a supervisor still sees its child), and serves; an operator's own value is left alone.
 */
setDefaultTimeout(120_000);
const environ = (pid: number) => readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
let gw: BinaryGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

describe("serve and the allocator", () => {
  for (const entry of ["binary", "source"] as const) {
    test(`${entry}: the serving process keeps freed memory, under the same process id`, async () => {
      gw = await startBinaryGateway({ entry });
      expect(environ(gw.proc.pid)).toContain("MIMALLOC_PURGE_DELAY=-1");
      const c = await gw.customer(0);
      const res = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${c.key}` } });
      expect(res.status).toBe(200);
    });
  }

  test("an operator's MIMALLOC_PURGE_DELAY is kept as it is", async () => {
    gw = await startBinaryGateway({ env: { MIMALLOC_PURGE_DELAY: "10" } });
    const vars = environ(gw.proc.pid);
    expect(vars).toContain("MIMALLOC_PURGE_DELAY=10");
    expect(vars).not.toContain("MIMALLOC_PURGE_DELAY=-1");
  });
});

describe("keepFreedMemory", () => {
  const fake = (o: Partial<ProcessLike>) => {
    const calls: [string, string[], Record<string, string | undefined>][] = [];
    const p: ProcessLike = {
      argv: ["/usr/bin/bun", "/srv/src/index.ts", "serve", "--config", "t.toml"],
      execArgv: ["--smol"],
      execPath: "/usr/bin/bun",
      env: { HOME: "/root" },
      execve: ((file, args, env) => void calls.push([file, args, env])) as ProcessLike["execve"],
      ...o,
    };
    return { p, calls };
  };

  test("from source: the runtime's flags and the script come back, with the variable added", () => {
    const { p, calls } = fake({});
    keepFreedMemory(p);
    expect(calls).toEqual([["/usr/bin/bun", ["/usr/bin/bun", "--smol", "/srv/src/index.ts", "serve", "--config", "t.toml"], { HOME: "/root", MIMALLOC_PURGE_DELAY: "-1" }]]);
  });

  test("a compiled binary: its own arguments only (it re-applies its runtime flags)", () => {
    const p = { argv: ["bun", "/$bunfs/root/tollgate", "serve"], execArgv: ["--max-http-header-size=262144"], execPath: "/usr/local/bin/tollgate" };
    expect(sameCommand(p)).toEqual(["/usr/local/bin/tollgate", "serve"]);
  });

  test("set already, or no execve: nothing happens; a failing execve only warns", () => {
    const set = fake({ env: { MIMALLOC_PURGE_DELAY: "0" } });
    keepFreedMemory(set.p);
    expect(set.calls).toHaveLength(0);
    keepFreedMemory(fake({ execve: undefined }).p);
    const warnings: string[] = [];
    const failing = fake({ execve: (() => { throw new Error("EACCES"); }) as ProcessLike["execve"] });
    keepFreedMemory(failing.p, (m) => warnings.push(m));
    expect(warnings).toEqual(["warning: could not restart with MIMALLOC_PURGE_DELAY=-1 (EACCES); the allocator keeps its default"]);
  });
});
