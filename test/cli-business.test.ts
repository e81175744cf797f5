import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { UsageRecord } from "../src/money/credit-store";
import { insertUsage } from "../src/money/usage-row";
import { ensureBinary } from "./support/binary";
import { freshDb, seedAccount, seedKey } from "./support/foundation";

/**
 * The business commands through the compiled binary: usage, margins (and --losses), accounts
 * plan / suspend / resume, keys limits, and codes create whose stdout is a file of codes.
 */
setDefaultTimeout(120_000);
const dir = mkdtempSync(join(tmpdir(), "tollgate-cli-biz-"));
const DB = join(dir, "biz.db");
const CONFIG = join(dir, "tollgate.json");
let bin: string;
let acc: string;
let key: string;
let other: string;
const T0 = Date.UTC(2030, 2, 1, 10);

async function run(args: string[], shell?: string) {
  const cmd = shell ? ["sh", "-c", shell] : [bin, ...args, "--db", DB, "--config", CONFIG];
  const proc = Bun.spawn(cmd, { cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir, BIN: bin, DB, CONFIG }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}
async function json(args: string[]): Promise<any> {
  const r = await run([...args, "--json"]);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

beforeAll(async () => {
  bin = await ensureBinary();
  writeFileSync(CONFIG, JSON.stringify({ plans: { pro: { rpm: 3000, tpm: 5_000_000, concurrency: 100 } } }));
  const db = freshDb(DB);
  acc = seedAccount(db, 10_000_000, "Acme");
  key = seedKey(db, acc, { name: "prod" }).row.id;
  other = seedAccount(db, 0, "Other");
  const row = (id: string, o: Partial<UsageRecord>): UsageRecord => ({
    requestId: id, accountId: acc, keyId: key, model: "grok-4", stream: false, status: 200, promptTokens: 100, cachedTokens: 0,
    completionTokens: 10, reasoningTokens: 0, costMicros: 450, estimated: false, latencyMs: 3, ttftMs: null, upstreamRequestId: null,
    errorCode: null, createdAt: T0, ...o,
  });
  db.write(() => {
    insertUsage(db, row("req_a", { upstreamCostMicros: 300 }));
    insertUsage(db, row("req_b", { createdAt: T0 + 86_400_000, costMicros: 100, upstreamCostMicros: 250, overageMicros: 40 }));
    insertUsage(db, row("req_c", { accountId: other, keyId: null, model: "grok-3", costMicros: 1_000_001, upstreamCostMicros: null }));
  });
  db.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("tollgate usage", () => {
  test("per account and per key, with totals, --json and --csv", async () => {
    const a = await json(["usage", "--account", acc]);
    expect(a.totals).toMatchObject({ requests: 2, cost_micros: 550 });
    expect(a.data.map((r: any) => r.request_id)).toEqual(["req_b", "req_a"]);
    const k = await json(["usage", "--key", key, "--from", "2030-03-02"]);
    expect(k.totals.requests).toBe(1);
    const csv = await run(["usage", "--csv"]);
    const lines = csv.stdout.trimEnd().split("\n");
    expect(lines[0]).toStartWith("created_at,request_id,account_id");
    expect(lines).toHaveLength(4);
    expect(lines.find((l) => l.includes("req_c"))).toContain(",1.000001,");
    const text = await run(["usage", "--account", acc]);
    expect(text.stdout).toContain("cost      0.00055 USD");
  });
});

describe("tollgate margins", () => {
  test("totals and groups as GET /admin/margins, --csv, and --losses", async () => {
    const r = await json(["margins", "--group-by", "account"]);
    expect(r.totals).toMatchObject({ revenue_micros: 1_000_551, upstream_cost_micros: 550, margin_micros: 0, unknown_cost_requests: 1, loss_micros: 150 });
    expect(r.data.map((g: any) => [g.label, g.revenue_micros])).toEqual([["Other", 1_000_001], ["Acme", 550]]);
    const csv = await run(["margins", "--group-by", "model", "--csv"]);
    expect(csv.stdout.split("\n")[0]).toStartWith("model,label,requests,revenue_usd");
    expect(csv.stdout).toContain("grok-3,,1,1.000001,0,0,,0,0,1,1.000001,0,0");
    const text = await run(["margins", "--from", "2030-03-01", "--to", "2030-03-01"]);
    expect(text.stdout).toContain("margin         0.00015 USD (33.33%)");
    const losses = await json(["margins", "--losses"]);
    expect(losses.data.map((l: any) => [l.request_id, l.loss_micros, l.key_name])).toEqual([["req_b", 150, "prod"]]);
    expect((await run(["margins", "--losses"])).stdout).toContain("req_b");
    // A far-future filter (taken, as the API takes it) is printed, not a crash on "Invalid Date".
    const far = await run(["margins", "--from", "99999999999999"]);
    expect(far.code).toBe(0);
    expect(far.stdout).toContain("99999999999999 (unix seconds, beyond any date) to now");
  });

  test("usage errors exit 2 with one line", async () => {
    for (const args of [["margins", "--group-by", "week"], ["margins", "--json", "--csv"], ["margins", "--from", "tomorrow"], ["margins", "--from", "2030-02-01", "--to", "2030-01-01"]]) {
      const r = await run(args);
      expect(r.code).toBe(2);
      expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    }
  });
});

describe("an unknown account or key", () => {
  // Exit 1 as every other command (keys list, credits add): a mistyped id must not print an empty invoice.
  test("usage and margins exit 1 naming it, with nothing on stdout", async () => {
    for (const args of [
      ["usage", "--account", "acc_typo", "--csv"],
      ["usage", "--key", "key_typo"],
      ["usage", "--account", acc, "--key", "key_typo"],
      ["margins", "--account", "acc_typo"],
      ["margins", "--key", "key_typo", "--csv"],
      ["margins", "--losses", "--account", "acc_typo"],
    ]) {
      const r = await run(args);
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 1, stdout: "" });
      expect(r.stderr.trimEnd()).toMatch(/^error: (Account acc_typo|API key key_typo) not found\. \(not_found\)$/);
    }
  });
});

describe("tollgate accounts plan | suspend | resume, keys limits", () => {
  test("plan: show, move to a configured plan, refuse an unknown one", async () => {
    expect((await json(["accounts", "plan", acc])).plan).toBe("default");
    const moved = await json(["accounts", "plan", acc, "pro"]);
    expect(moved).toMatchObject({ object: "account_plan", plan: "pro", limits: { rpm: 3000 } });
    const bad = await run(["accounts", "plan", acc, "gold"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("Unknown plan");
  });

  test("suspend and resume", async () => {
    expect((await json(["accounts", "suspend", other])).status).toBe("suspended");
    expect((await run(["accounts", "suspend", other])).stdout).toContain("was already suspended");
    expect((await json(["accounts", "resume", other])).status).toBe("active");
  });

  test("keys limits: show, set some (others kept), clear", async () => {
    expect((await json(["keys", "limits", key])).overrides).toEqual({ rpm: null, tpm: null, concurrency: null });
    await json(["keys", "limits", key, "--rpm", "60"]);
    const both = await json(["keys", "limits", key, "--concurrency", "2"]);
    expect(both.overrides).toEqual({ rpm: 60, tpm: null, concurrency: 2 });
    expect(both.effective).toEqual({ rpm: 60, tpm: 5_000_000, concurrency: 2 });
    expect((await json(["keys", "limits", key, "--rpm", "none"])).overrides.rpm).toBeNull();
    expect((await json(["keys", "limits", key, "--clear"])).overrides).toEqual({ rpm: null, tpm: null, concurrency: null });
    expect((await run(["keys", "limits", key, "--rpm", "0"])).code).toBe(2);
  });

  test("every new command has --help", async () => {
    for (const c of [["usage"], ["margins"], ["accounts", "plan"], ["accounts", "suspend"], ["accounts", "resume"], ["keys", "limits"]]) {
      const r = await run([...c, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: tollgate ${c.join(" ")}`);
      expect(r.stdout).toContain("--json");
    }
  });
});

describe("tollgate codes create", () => {
  test("stdout holds only the codes (a file of codes); the summary goes to stderr", async () => {
    const r = await run([], '"$BIN" codes create --count 3 --amount 5 --db "$DB" --config "$CONFIG" > codes.txt');
    expect(r.code).toBe(0);
    const codes = readFileSync(join(dir, "codes.txt"), "utf8").trimEnd().split("\n");
    expect(codes).toHaveLength(3);
    for (const c of codes) expect(c).toMatch(/^TG-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/);
    expect(r.stderr).toContain("# 3 code(s) worth 5 USD each");
    const j = await json(["codes", "create", "--count", "1", "--amount", "1"]);
    expect(j.codes).toHaveLength(1);
  });
});
