import { expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./support/binary";
import { startBinaryGateway } from "./support/gateway";
import { WebClient } from "./support/web-client";

/**
 * An error once `tollgate demo` has started its mock upstream (and maybe its server) must not leave
 * the process running: what was started is stopped, the error is one line, the exit code non-zero.
 */
setDefaultTimeout(120_000);

/** Well above a demo's start on a busy machine; a process still running then has hung. */
const HUNG_AFTER_MS = 45_000;

interface Ended {
  code: number | "still running";
  stdout: string;
  stderr: string;
}

/** `bun src/index.ts demo ...args` on a free port; killed if it has not exited within HUNG_AFTER_MS. */
async function demo(args: string[], home: string): Promise<Ended> {
  const proc = Bun.spawn(["bun", "src/index.ts", "demo", ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, PORT: "0", HOST: "127.0.0.1" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const exited = await Promise.race([proc.exited, Bun.sleep(HUNG_AFTER_MS).then(() => "still running" as const)]);
  if (exited === "still running") proc.kill("SIGKILL");
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code: exited, stdout, stderr };
}

test("demo --db naming a folder: the mock upstream is stopped, one error line, exit 1", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-demo-err-"));
  try {
    const folder = join(dir, "data");
    mkdirSync(folder);
    // The database opens after the listen check and the mock upstream's start.
    const r = await demo(["--db", folder], dir);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split("\n")).toEqual([`error: cannot open the database ${folder} (unable to open database file): it is a folder: give the path of the database file in it`]);
    expect(r.stdout).not.toContain("listening on");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("demo again on a database whose demo customer signed in: the invite fails after listen; the server stops, exit 1", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-demo-err-"));
  const db = join(dir, "demo.db");
  try {
    const first = await startBinaryGateway({ args: ["demo", "--db", db], entry: "source", dir, adminToken: null });
    try {
      // The demo customer chooses a password: demo@example.com is now a proven sign-in address.
      const invite = new URL(/sign in as the demo customer[^:]*: (http:\/\/\S+)/.exec(first.output())![1]!);
      const customer = new WebClient(invite.origin);
      const set = await customer.submit(invite.pathname, invite.pathname, { email: "demo@example.com", password: "demo password 123", confirm: "demo password 123" });
      expect(set.status).toBe(303);
    } finally {
      expect(await first.stop()).toBe(0);
    }

    // The second demo customer's invite asks for the same address, once the server listens.
    const r = await demo(["--db", db], dir);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split("\n")).toEqual(["error: This email is already used by another account. (email_taken)"]);
    const gateway = /gateway\s+(http:\/\/\S+)\/v1/.exec(r.stdout)![1]!;
    expect(r.stdout).not.toContain("listening on");
    // Nothing answers there any more.
    expect(await fetch(`${gateway}/healthz`).then(() => "answered", () => "refused")).toBe("refused");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
