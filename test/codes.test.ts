import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../src/store/sqlite-store";
import { createAccount, updateAccount } from "../src/modules/accounts/service";
import { createCodes, normalizeCode, redeemCode } from "../src/modules/codes/service";
import { checkLedger } from "../src/money/ledger";
import { startGateway, type Gateway } from "./support/gateway";

let srv: Gateway;
beforeAll(async () => {
  srv = await startGateway();
});
afterAll(() => srv.stop());

const redeem = (key: string, code: string) =>
  fetch(`${srv.url}/v1/credits/redeem`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ code }),
  });

const meBody = async (key: string) => (await (await srv.me(key)).json()) as { balance_micros: number };

async function batch(count: number, amount = 5_000_000, extra: Record<string, unknown> = {}) {
  const res = await srv.admin("/admin/codes", { body: { count, amount_micros: amount, note: "launch promo", ...extra } });
  expect(res.status).toBe(201);
  return (await res.json()) as { batch: string; codes: { id: string; code: string }[] };
}

describe("redemption codes", () => {
  test("a batch is created once and listed without the codes", async () => {
    const b = await batch(3);
    expect(b.codes).toHaveLength(3);
    expect(new Set(b.codes.map((c) => c.code)).size).toBe(3);
    for (const c of b.codes) expect(c.code).toMatch(/^TG-[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);
    const list = (await (await srv.admin(`/admin/codes?batch=${b.batch}`)).json()) as { data: Record<string, unknown>[] };
    expect(list.data).toHaveLength(3);
    expect(JSON.stringify(list)).not.toContain(b.codes[0]!.code);
    expect(list.data.every((c) => c.status === "available" && c.amount_micros === 5_000_000)).toBe(true);
    const audit = (await (await srv.admin(`/admin/audit?target_id=${b.batch}`)).json()) as { data: { action: string }[] };
    expect(audit.data.map((a) => a.action)).toEqual(["codes.create"]);
  });

  test("the list pages by next_cursor, and a cursor that is none is a 400", async () => {
    const b = await batch(5);
    const ids: string[] = [];
    let url = `/admin/codes?batch=${b.batch}&limit=2`;
    for (;;) {
      const page = (await (await srv.admin(url)).json()) as { data: { id: string }[]; has_more: boolean; next_cursor: string | null };
      ids.push(...page.data.map((c) => c.id));
      expect(page.has_more).toBe(page.next_cursor !== null);
      if (!page.next_cursor) break;
      url = `/admin/codes?batch=${b.batch}&limit=2&before=${encodeURIComponent(page.next_cursor)}`;
    }
    expect(ids.sort()).toEqual(b.codes.map((c) => c.id).sort());
    expect((await srv.admin(`/admin/codes?before=yesterday`)).status).toBe(400);
  });

  test("20 codes that do not redeem an hour per account, then 429 (the API and the portal); a good one gives its try back", async () => {
    const c = await srv.customer(0);
    const good = (await batch(1, 1_000_000)).codes[0]!.code;
    expect((await redeem(c.key, good)).status).toBe(200);
    for (let i = 0; i < 20; i++) expect((await redeem(c.key, `TG-0000-0000-0000-${String(i).padStart(4, "0")}`)).status).toBe(404);
    const paused = await redeem(c.key, "TG-0000-0000-0000-9999");
    expect(paused.status).toBe(429);
    expect(paused.headers.get("retry-after")).not.toBeNull();
    expect(((await paused.json()) as { error: { code: string } }).error.code).toBe("too_many_code_attempts");
    // Even a good code waits: the pause is for the account, whatever it tries.
    const other = (await batch(1, 1_000_000)).codes[0]!.code;
    expect((await redeem(c.key, other)).status).toBe(429);
    // Another account is not held back.
    const d = await srv.customer(0);
    expect((await redeem(d.key, other)).status).toBe(200);
  });

  test("redeeming credits the account once, appears in the ledger, and is idempotent per account", async () => {
    const c = await srv.customer(1_000_000);
    const b = await batch(1, 2_500_000);
    const code = b.codes[0]!.code;
    const r1 = await redeem(c.key, code.toLowerCase().replaceAll("-", ""));
    expect(r1.status).toBe(200);
    const body = (await r1.json()) as { replayed: boolean; amount_micros: number; ledger_entry: { kind: string; balance_after_micros: number } };
    expect(body).toMatchObject({ replayed: false, amount_micros: 2_500_000, ledger_entry: { kind: "redeem", balance_after_micros: 3_500_000 } });
    expect((await meBody(c.key)).balance_micros).toBe(3_500_000);

    const r2 = await redeem(c.key, code);
    expect(r2.status).toBe(200);
    expect(((await r2.json()) as { replayed: boolean }).replayed).toBe(true);
    expect((await meBody(c.key)).balance_micros).toBe(3_500_000);

    const ledger = (await (await srv.admin(`/admin/accounts/${c.accountId}/ledger`)).json()) as { data: { kind: string; amount_micros: number }[] };
    expect(ledger.data.filter((e) => e.kind === "redeem")).toEqual([expect.objectContaining({ amount_micros: 2_500_000 })]);
    const listed = (await (await srv.admin(`/admin/codes?batch=${b.batch}`)).json()) as { data: { status: string; redeemed_by: string }[] };
    expect(listed.data[0]).toMatchObject({ status: "redeemed", redeemed_by: c.accountId });
  });

  test("another account cannot redeem a used code; unknown and expired codes are refused", async () => {
    const a = await srv.customer(0);
    const b = await srv.customer(0);
    const { codes } = await batch(1);
    expect((await redeem(a.key, codes[0]!.code)).status).toBe(200);
    const again = await redeem(b.key, codes[0]!.code);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe("code_already_redeemed");
    expect((await meBody(b.key)).balance_micros).toBe(0);

    const unknown = await redeem(b.key, "TG-0000-0000-0000-0000");
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string; param: string } }).error).toMatchObject({ code: "code_not_found", param: "code" });
    expect((await redeem(b.key, "not a code")).status).toBe(404);
  });

  test("concurrent redemptions of one code by many accounts credit exactly one", async () => {
    const customers = await Promise.all(Array.from({ length: 12 }, () => srv.customer(0)));
    const { codes } = await batch(1, 7_000_000);
    const results = await Promise.all(customers.map((c) => redeem(c.key, codes[0]!.code)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(11);
    const balances = await Promise.all(customers.map((c) => meBody(c.key)));
    expect(balances.reduce((s, b) => s + b.balance_micros, 0)).toBe(7_000_000);
    expect(await checkLedger(srv.runtime.deps.store)).toEqual([]);
  });

  test("a suspended account's key is refused at once", async () => {
    const c = await srv.customer(0);
    const { codes } = await batch(1);
    await srv.admin(`/admin/accounts/${c.accountId}`, { method: "PATCH", body: { status: "suspended" } });
    expect((await redeem(c.key, codes[0]!.code)).status).toBe(401);
  });

  test("admin validation and auth", async () => {
    expect((await srv.admin("/admin/codes", { body: { count: 0, amount_micros: 1 } })).status).toBe(400);
    expect((await srv.admin("/admin/codes", { body: { count: 1, amount_micros: -5 } })).status).toBe(400);
    expect((await srv.admin("/admin/codes", { body: { count: 1, amount_micros: 5, expires_at: 1000 } })).status).toBe(400);
    const c = await srv.customer(0);
    const asCustomer = await fetch(`${srv.url}/admin/codes`, { headers: { authorization: `Bearer ${c.key}` } });
    expect(asCustomer.status).toBe(401);
  });

  test("routes are in the OpenAPI spec", async () => {
    const spec = (await (await fetch(`${srv.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(spec.paths["/admin/codes"] ?? {}).sort()).toEqual(["get", "post"]);
    expect(spec.paths["/v1/credits/redeem"]?.post).toBeDefined();
    expect(spec.paths["/admin/accounts/{id}/invite"]?.post).toBeDefined();
  });
});

describe("redemption service", () => {
  test("codes normalise (case, dashes, I/L/O) and expire", async () => {
    expect(normalizeCode("tg-abcd-efgh-jkmn-pqrs")).toBe("TGABCDEFGHJKMNPQRS");
    expect(normalizeCode("ABCD EFGH JKMN PQRS")).toBe("TGABCDEFGHJKMNPQRS");
    expect(normalizeCode("TG-0O00-1I1L-0000-0000")).toBe("TG0000111100000000");
    expect(normalizeCode("TG-ABCD")).toBeNull();
    expect(normalizeCode("TG-ABCU-0000-0000-0000")).toBeNull();

    const db = new SqliteStore(":memory:");
    db.migrate();
    const acc = (await createAccount(db, { name: "x" }, "test", 1_000));
    const b = await createCodes(db, { count: 1, amount_micros: 10, expires_at: 2 }, "test", 1_000);
    await expect(redeemCode(db, acc.id, b.codes[0]!.code, "test", 3_000)).rejects.toThrow("expired");
    const ok = await createCodes(db, { count: 1, amount_micros: 10 }, "test", 1_000);
    (await updateAccount(db, acc.id, { status: "suspended" }, "test"));
    await expect(redeemCode(db, acc.id, ok.codes[0]!.code, "test", 3_000)).rejects.toThrow("suspended");
    db.sqlite.close();
  });

  test("processes racing on one database file credit a code exactly once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-codes-"));
    try {
      const path = join(dir, "t.db");
      const db = new SqliteStore(path);
      db.migrate();
      const accounts = await Promise.all(Array.from({ length: 4 }, (_, i) => createAccount(db, { name: `racer ${i}` }, "test")));
      const { codes } = await createCodes(db, { count: 1, amount_micros: 3_000_000 }, "test");
      const root = join(import.meta.dir, "..");
      const script = `
        import { SqliteStore } from "${root}/src/store/sqlite-store";
        import { redeemCode } from "${root}/src/modules/codes/service";
        const db = new SqliteStore(process.argv[1]);
        await Bun.sleep(Number(process.argv[4]));
        try { await redeemCode(db, process.argv[2], process.argv[3], "race"); console.log("ok"); }
        catch (e) { console.log(e.code ?? e.message); }`;
      const start = Date.now() + 300;
      const outs = await Promise.all(
        accounts.map(async (a) => {
          const p = Bun.spawn(["bun", "-e", script, path, a.id, codes[0]!.code, String(Math.max(0, start - Date.now()))], { stdout: "pipe" });
          await p.exited;
          return (await new Response(p.stdout).text()).trim();
        }),
      );
      expect(outs.filter((o) => o === "ok")).toHaveLength(1);
      expect(outs.filter((o) => o === "code_already_redeemed")).toHaveLength(3);
      const total = db.sqlite.query<{ s: number }, []>("SELECT sum(balance_micros) AS s FROM accounts").get()!.s;
      expect(total).toBe(3_000_000);
      expect(await checkLedger(db)).toEqual([]);
      db.sqlite.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("CLI", () => {
  test("codes create prints the codes once; codes list never does; accounts invite prints a one-time link", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-codes-cli-"));
    try {
      const root = join(import.meta.dir, "..");
      const run = async (...args: string[]) => {
        const p = Bun.spawn(["bun", join(root, "src/index.ts"), "--db", join(dir, "t.db"), ...args], {
          stdout: "pipe", stderr: "pipe", env: { ...process.env, TOLLGATE_PUBLIC_URL: "https://gw.example.com" },
        });
        const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
        return { out, err, code };
      };
      const made = await run("codes", "create", "--count", "2", "--amount", "7.25", "--note", "meetup", "--json");
      expect(made.code).toBe(0);
      const batch = JSON.parse(made.out) as { batch: string; amount_micros: number; codes: { code: string }[] };
      expect(batch.amount_micros).toBe(7_250_000);
      expect(batch.codes).toHaveLength(2);
      const list = await run("codes", "list", "--batch", batch.batch);
      expect(list.code).toBe(0);
      expect(list.out).toContain("available");
      expect(list.out).not.toContain(batch.codes[0]!.code);
      expect((await run("codes", "create", "--count", "5")).code).toBe(2);
      expect((await run("codes", "create", "--count", "1", "--amount", "-1")).code).toBe(2);
      // --count and --expires are read strictly, as keys create reads --expires.
      for (const bad of [["--count", "1e3"], ["--count", "0x10"], ["--count", "1", "--expires", "2030-02-30"], ["--count", "1", "--expires", "hello 2030"], ["--count", "1", "--expires", "2020-01-01"]]) {
        const r = await run("codes", "create", "--amount", "1", ...bad);
        expect([bad, r.code]).toEqual([bad, 2]);
      }
      const through = JSON.parse((await run("codes", "create", "--count", "1", "--amount", "1", "--expires", "2030-02-28", "--json")).out) as { expires_at: number };
      expect(through.expires_at).toBe(Date.parse("2030-03-01T00:00:00Z") / 1000);

      const acc = JSON.parse((await run("accounts", "create", "CLI Co", "--email", "cli@example.com", "--json")).out) as { id: string };
      const inv = await run("accounts", "invite", acc.id);
      expect(inv.code).toBe(0);
      expect(inv.out).toMatch(/https:\/\/gw\.example\.com\/portal\/invite\/[0-9A-Za-z]{40}/);
      expect(inv.out).toContain("cli@example.com");
      expect((await run("accounts", "invite", "acc_missing")).code).not.toBe(0);

      const db = new SqliteStore(join(dir, "t.db"));
      const a = (await createAccount(db, { name: "redeemer" }, "test"));
      expect((await redeemCode(db, a.id, batch.codes[1]!.code, "test")).entry.amount_micros).toBe(7_250_000);
      db.sqlite.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
