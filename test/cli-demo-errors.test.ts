import { expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
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

// `demo ./demo.db` (--db forgotten) refused as `serve extra` is: run, it would keep nothing in ./demo.db.
test("demo with an unexpected argument: a usage error in one line, exit 2, nothing started or created", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-demo-arg-"));
  try {
    const db = join(dir, "demo.db");
    const r = await demo([db], dir);
    expect({ code: r.code, stderr: r.stderr.trimEnd().split("\n"), created: existsSync(db) }).toEqual({
      code: 2,
      stderr: [`error: demo: unexpected argument ${JSON.stringify(db)}`],
      created: false,
    });
    expect(r.stdout).toBe("");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A first demo on `db` whose customer chooses a password (demo@example.com becomes a proven sign-in address); what it printed. */
async function firstDemoSignedIn(db: string, dir: string, meanwhile?: (output: string, url: string) => Promise<void>): Promise<string> {
  const first = await startBinaryGateway({ args: ["demo", "--db", db], entry: "source", dir, adminToken: null });
  try {
    const invite = new URL(/sign in as the demo customer[^:]*: (http:\/\/\S+)/.exec(first.output())![1]!);
    const customer = new WebClient(invite.origin);
    const set = await customer.submit(invite.pathname, invite.pathname, { email: "demo@example.com", password: "demo password 123", confirm: "demo password 123" });
    expect(set.status).toBe(303);
    await meanwhile?.(first.output(), first.url);
    return first.output();
  } finally {
    expect(await first.stop()).toBe(0);
  }
}

const accountOf = (output: string) => /demo account\s+(acc_\S+)/.exec(output)![1]!;

test("demo again on the same --db: the same demo customer and balance, a new key, a link that resets the password", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-demo-again-"));
  const db = join(dir, "demo.db");
  try {
    const before = await firstDemoSignedIn(db, dir);
    const again = await startBinaryGateway({ args: ["demo", "--db", db], entry: "source", dir, adminToken: null });
    try {
      const out = again.output();
      expect(accountOf(out)).toBe(accountOf(before));
      const balance = await fetch(`${again.url}/v1/me`, { headers: { authorization: `Bearer ${/demo API key\s+(\S+)/.exec(out)![1]!}` } });
      expect(balance.status).toBe(200);
      const me = (await balance.json()) as { account_id: string; balance_micros: number };
      expect(me.account_id).toBe(accountOf(before));
      // The first demo's completion was charged, and no second grant of credits came.
      expect(me.balance_micros).toBeGreaterThan(0);
      expect(me.balance_micros).toBeLessThan(5_000_000);
      expect(/demo API key\s+(\S+)/.exec(out)![1]).not.toBe(/demo API key\s+(\S+)/.exec(before)![1]);
      // The one-time link sets a new password for the customer who signed in before.
      const invite = new URL(/sign in as the demo customer[^:]*: (http:\/\/\S+)/.exec(out)![1]!);
      const set = await new WebClient(invite.origin).submit(invite.pathname, invite.pathname, { email: "demo@example.com", password: "another password 456", confirm: "another password 456" });
      expect(set.status).toBe(303);
    } finally {
      expect(await again.stop()).toBe(0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("demo again when another account holds the demo customer's address: the invite fails after listen; the server stops, exit 1", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-demo-err-"));
  const db = join(dir, "demo.db");
  try {
    // The operator renames the demo account: the next demo makes its own, whose invite asks for the same address.
    await firstDemoSignedIn(db, dir, async (output, url) => {
      const token = /admin token\s+(\S+)/.exec(output)![1]!;
      const res = await fetch(`${url}/admin/accounts/${accountOf(output)}`, { method: "PATCH", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ name: "Renamed" }) });
      expect(res.status).toBe(200);
    });
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
