import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Database } from "bun:sqlite";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { AccountList, AccountView } from "../src/modules/accounts/model";
import { CreatedKey, KeyList, KeyView } from "../src/modules/keys/model";
import { LedgerEntryView } from "../src/modules/ledger/model";
import { sha256Hex } from "../src/lib/crypto";
import { journalPath, type SettleRecord } from "../src/money/settle-journal";
import { SettleWriter } from "../src/money/settle-writer";
import { SqliteStore } from "../src/store/sqlite-store";
import { startGateway } from "./support/gateway";
import { chat, user } from "./support/chat";
import { fakeCatalogue, startFakeUpstream } from "./support/fake-upstream";

// bunfig.toml's [test] timeout is not applied here (runs showed the 5 s default): every test spawns processes.
setDefaultTimeout(120_000);

const ENTRY = resolve(import.meta.dir, "../src/index.ts");
const dir = mkdtempSync(join(tmpdir(), "tollgate-cli-"));
const DB = join(dir, "main.db");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bun src/index.ts ...args` in the temp folder with a clean environment. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const proc = Bun.spawn([process.execPath, ENTRY, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", HOME: dir, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** `--db DB --json`, expecting success and exactly one JSON document on stdout. */
async function json<T = any>(args: string[], env: Record<string, string> = {}): Promise<T> {
  const r = await cli([...args, "--db", DB, "--json"], env);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A failing run: the exit code, and stderr that is exactly one line. */
async function fails(args: string[], env: Record<string, string> = {}): Promise<{ code: number; line: string; stdout: string }> {
  const r = await cli(args, env);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  return { code: r.code, line: lines[0]!, stdout: r.stdout };
}

function query<T>(sql: string, ...params: (string | number)[]): T[] {
  const db = new Database(DB, { readonly: true });
  try {
    return db.query(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("help and version", () => {
  test("top-level --help lists every command and exits 0", async () => {
    for (const flag of ["--help", "-h"]) {
      const r = await cli([flag]);
      expect(r.code).toBe(0);
      for (const c of ["serve", "migrate", "accounts create", "accounts list", "accounts show", "credits add", "keys create", "keys list", "keys rotate", "keys revoke"]) {
        expect(r.stdout).toContain(`  ${c} `);
      }
    }
  });

  test("every command and group has --help", async () => {
    const leaves = ["serve", "migrate", "accounts create", "accounts list", "accounts show", "credits add", "keys create", "keys list", "keys show", "keys rotate", "keys revoke"];
    for (const leaf of leaves) {
      const r = await cli([...leaf.split(" "), "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toStartWith(`Usage: tollgate ${leaf}`);
      expect(r.stdout).toContain("--json");
    }
    for (const group of ["accounts", "credits", "keys"]) {
      const r = await cli([group, "-h"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toStartWith(`Usage: tollgate ${group} <`);
    }
    const r = await cli(["credits", "add", "--help"]);
    expect(r.stdout).toContain("--idempotency-key <key>");
  });

  test("--help works even with a broken configuration", async () => {
    const r = await cli(["keys", "create", "--help"], { PORT: "abc" });
    expect(r.code).toBe(0);
  });

  test("--version", async () => {
    const pkg = (await Bun.file(resolve(import.meta.dir, "../package.json")).json()) as { version: string };
    expect((await cli(["--version"])).stdout.trim()).toBe(`tollgate ${pkg.version}`);
    expect(JSON.parse((await cli(["--version", "--json"])).stdout)).toEqual({ version: pkg.version });
  });
});

describe("migrate", () => {
  test("creates the database, then has nothing left to apply", async () => {
    const first = await json(["migrate"]);
    expect(first).toMatchObject({ object: "migration_result", db_path: DB });
    expect(first.applied).toBeGreaterThan(0);
    expect(query<{ n: number }>("SELECT count(*) AS n FROM __drizzle_migrations")[0]!.n).toBe(first.applied);
    expect((await json(["migrate"])).applied).toBe(0);
    const human = await cli(["migrate", "--db", DB]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("up to date");
  });
});

describe("accounts", () => {
  let acme: z.infer<typeof AccountView>;

  beforeAll(async () => {
    acme = AccountView.parse(await json(["accounts", "create", "Acme Inc", "--email", "ops@acme.test", "--plan", "default"]));
  });

  test("create returns the account view and audits it as the cli", () => {
    expect(acme).toMatchObject({ object: "account", name: "Acme Inc", email: "ops@acme.test", plan: "default", balance_micros: 0 });
    expect(acme.id).toStartWith("acc_");
    const audit = query<{ actor: string; action: string }>("SELECT actor, action FROM audit_log WHERE target_id = ?", acme.id);
    expect(audit).toEqual([{ actor: "cli", action: "account.create" }]);
  });

  test("list and search", async () => {
    await json(["accounts", "create", "Globex"]);
    const all = AccountList.parse(await json(["accounts", "list"]));
    expect(all.data.map((a) => a.name)).toEqual(expect.arrayContaining(["Acme Inc", "Globex"]));
    const found = AccountList.parse(await json(["accounts", "list", "--q", "acme"]));
    expect(found.data.map((a) => a.id)).toEqual([acme.id]);
    const paged = AccountList.parse(await json(["accounts", "list", "--limit", "1"]));
    expect(paged.data).toHaveLength(1);
    expect(paged.has_more).toBe(true);

    const human = await cli(["accounts", "list", "--db", DB]);
    expect(human.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+EMAIL/);
    expect(human.stdout).toContain(acme.id);
  });

  test("show reports held credit from the holds the server persisted", async () => {
    await json(["credits", "add", acme.id, "5"]);
    const db = new Database(DB);
    db.query("INSERT INTO credit_holds (request_id, account_id, amount_micros, expires_at, created_at) VALUES (?, ?, ?, ?, ?)").run(
      "req_test_hold", acme.id, 1_250_000, Date.now() + 60_000, Date.now(),
    );
    db.close();
    const shown = AccountView.parse(await json(["accounts", "show", acme.id]));
    expect(shown).toMatchObject({ balance_micros: 5_000_000, held_micros: 1_250_000, available_micros: 3_750_000, available_usd: "3.75" });
    const human = await cli(["accounts", "show", acme.id, "--db", DB]);
    expect(human.stdout).toMatch(/held\s+1\.25 USD/);
    expect(human.stdout).toMatch(/available\s+3\.75 USD/);
    // An adjustment may not eat into held credit.
    const over = await fails(["credits", "add", acme.id, "-4", "--db", DB]);
    expect(over.code).toBe(1);
    expect(over.line).toContain("insufficient_available_credit");
  });

  test("bad input", async () => {
    expect((await fails(["accounts", "show", "acc_missing", "--db", DB])).code).toBe(1);
    expect((await fails(["accounts", "create", "--db", DB])).code).toBe(2);
    expect((await fails(["accounts", "create", "A", "B", "--db", DB])).code).toBe(2);
    const email = await fails(["accounts", "create", "A", "--email", "not-an-email", "--db", DB]);
    expect(email.code).toBe(2);
    expect(email.line).toContain("--email");
    expect((await fails(["accounts", "list", "--limit", "0", "--db", DB])).code).toBe(2);
    // Limits are decimal digits: what a typo or a script's "1e3" means is asked again, not guessed.
    for (const args of [["usage", "--limit", "1e3"], ["usage", "--limit", "0x10"], ["margins", "--losses", "--limit", "5.0"]]) {
      const r = await fails([...args, "--db", DB]);
      expect(r.code).toBe(2);
      expect(r.line).toStartWith("error: --limit: a whole number from 1 to");
    }
    // A blank or fractional grace is refused, not read as 0 (which would revoke the member's keys at once).
    const team = (await json(["accounts", "create", "Grace Co"])).id as string;
    const member = (await json(["members", "invite", team, "dev@grace.test"])).member.id as string;
    for (const grace of [" ", "1.5", "-5", "abc"]) {
      const r = await fails(["members", "remove", member, "--grace", grace, "--db", DB]);
      expect(r.code).toBe(2);
      expect(r.line).toStartWith("error: --grace:");
    }
    expect(query<{ removed_at: number | null }>("SELECT removed_at FROM account_members WHERE id = ?", member)[0]!.removed_at).toBeNull();
    // A plan that is not configured is refused as the admin API refuses it, and nothing is created.
    const accounts = () => query<{ n: number }>("SELECT count(*) AS n FROM accounts")[0]!.n;
    const before = accounts();
    const plan = await fails(["accounts", "create", "A", "--plan", "platinum", "--db", DB]);
    expect(plan.code).toBe(1);
    expect(plan.line).toContain("Unknown plan");
    expect(accounts()).toBe(before);
  });
});

describe("credits add", () => {
  let id: string;
  const ledger = () => query<{ amount_micros: number; kind: string; note: string | null }>(
    "SELECT amount_micros, kind, note FROM ledger_entries WHERE account_id = ? ORDER BY id", id,
  );

  beforeAll(async () => {
    id = (await json(["accounts", "create", "Credits Co"])).id;
  });

  test("decimal USD becomes exact micros; the same idempotency key applies once", async () => {
    const args = ["credits", "add", id, "12.345678", "--note", "invoice 7", "--idempotency-key", "inv-7"];
    const first = LedgerEntryView.extend({ replayed: z.boolean(), balance_micros: z.number() }).parse(await json(args));
    expect(first).toMatchObject({ kind: "topup", amount_micros: 12_345_678, balance_after_micros: 12_345_678, balance_micros: 12_345_678, note: "invoice 7", replayed: false });
    const again = await json(args);
    expect(again).toEqual({ ...first, replayed: true });
    expect(ledger()).toHaveLength(1);

    const human = await cli([...args, "--db", DB]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("already applied");
    expect(ledger()).toHaveLength(1);

    const reused = await fails(["credits", "add", id, "1", "--idempotency-key", "inv-7", "--db", DB]);
    expect(reused.code).toBe(1);
    expect(reused.line).toContain("idempotency_key_reused");
    expect(AccountView.parse(await json(["accounts", "show", id])).balance_micros).toBe(12_345_678);
  });

  test("a negative amount is an adjustment", async () => {
    const adj = await json(["credits", "add", id, "-0.345678", "--note", "correction"]);
    expect(adj).toMatchObject({ kind: "adjustment", amount_micros: -345_678, balance_after_micros: 12_000_000 });
    const human = await cli(["credits", "add", id, "1", "--db", DB]);
    expect(human.stdout.trim()).toBe(`topup of 1 USD on ${id} (ledger entry ${adj.id + 1}): balance 13 USD`);
    expect(ledger().map((e) => e.amount_micros)).toEqual([12_345_678, -345_678, 1_000_000]);
    const audit = query<{ actor: string }>("SELECT DISTINCT actor FROM audit_log WHERE target_id = ? AND action LIKE 'credits.%'", id);
    expect(audit).toEqual([{ actor: "cli" }]);
  });

  test("bad amounts exit 2 and change nothing; an unknown account exits 1", async () => {
    const before = ledger().length;
    for (const amount of ["abc", "0", "1.1234567", "1e3", "--5", ""]) {
      const r = await fails(["credits", "add", id, amount, "--db", DB]);
      expect(r.code).toBe(2);
    }
    expect((await fails(["credits", "add", id, "--db", DB])).code).toBe(2);
    const unknown = await fails(["credits", "add", "acc_missing", "5", "--db", DB]);
    expect(unknown.code).toBe(1);
    expect(unknown.line).toContain("acc_missing");
    expect(ledger()).toHaveLength(before);
  });
});

describe("keys", () => {
  let accountId: string;
  let created: z.infer<typeof CreatedKey>;

  beforeAll(async () => {
    accountId = (await json(["accounts", "create", "Keys Co"])).id;
    created = CreatedKey.parse(
      await json(["keys", "create", accountId, "--name", "ci", "--models", "grok-4, grok-3", "--expires", "2099-01-31", "--spend-cap", "2.5"]),
    );
  });

  test("create returns the key once and stores only its hash", () => {
    expect(created).toMatchObject({
      account_id: accountId,
      name: "ci",
      models: ["grok-4", "grok-3"],
      expires_at: Date.parse("2099-01-31T00:00:00Z") / 1000,
      spend_cap_micros: 2_500_000,
      status: "active",
    });
    expect(created.key).toStartWith("sk-tg-");
    const rows = query<{ hash: string }>("SELECT hash FROM api_keys WHERE id = ?", created.id);
    expect(rows).toEqual([{ hash: sha256Hex(created.key) }]);
    const audit = query<{ actor: string; after: string }>("SELECT actor, after FROM audit_log WHERE target_id = ?", created.id);
    expect(audit[0]!.actor).toBe("cli");
    expect(audit[0]!.after).not.toContain(created.key);
  });

  test("human output prints the key exactly once", async () => {
    const r = await cli(["keys", "create", accountId, "--expires", String(Math.floor(Date.now() / 1000) + 3600), "--db", DB]);
    expect(r.code).toBe(0);
    const keys = r.stdout.match(/sk-tg-[A-Za-z0-9]{40}/g) ?? [];
    expect(keys).toHaveLength(1);
    expect(r.stdout).toContain("shown only once");
  });

  test("list never shows the key", async () => {
    const list = KeyList.parse(await json(["keys", "list", accountId]));
    expect(list.data.map((k) => k.id)).toContain(created.id);
    const raw = (await cli(["keys", "list", accountId, "--db", DB, "--json"])).stdout;
    expect(raw).not.toContain(created.key);
    expect(raw).not.toContain(sha256Hex(created.key));
    const human = await cli(["keys", "list", accountId, "--db", DB]);
    expect(human.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+DISPLAY\s+STATUS/);
    expect(human.stdout).toContain(created.display);
    expect((await fails(["keys", "list", "acc_missing", "--db", DB])).code).toBe(1);
  });

  test("rotate with a grace period keeps the old key until then; without, revokes it", async () => {
    const before = Math.floor(Date.now() / 1000);
    const rotated = CreatedKey.parse(await json(["keys", "rotate", created.id, "--grace", "600"]));
    expect(rotated.id).not.toBe(created.id);
    expect(rotated.key).not.toBe(created.key);
    expect(rotated).toMatchObject({ name: "ci", models: ["grok-4", "grok-3"], spend_cap_micros: 2_500_000, status: "active" });
    const old = KeyView.parse(await json(["keys", "show", created.id]));
    expect(old.status).toBe("active");
    expect(old.rotated_to).toBe(rotated.id);
    expect(old.expires_at).toBeGreaterThanOrEqual(before + 600);
    expect(old.expires_at).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 600);

    const again = CreatedKey.parse(await json(["keys", "rotate", rotated.id]));
    expect(KeyView.parse(await json(["keys", "show", rotated.id])).status).toBe("revoked");
    const inactive = await fails(["keys", "rotate", rotated.id, "--db", DB]);
    expect(inactive.code).toBe(1);
    expect(inactive.line).toContain("key_inactive");
    expect(query("SELECT 1 FROM api_keys WHERE hash = ?", sha256Hex(again.key))).toHaveLength(1);
  });

  test("revoke, twice", async () => {
    const k = CreatedKey.parse(await json(["keys", "create", accountId]));
    const revoked = KeyView.parse(await json(["keys", "revoke", k.id]));
    expect(revoked.status).toBe("revoked");
    expect(revoked.revoked_at).not.toBeNull();
    const twice = await cli(["keys", "revoke", k.id, "--db", DB]);
    expect(twice.code).toBe(0);
    expect(twice.stdout).toContain(`revoked ${k.id}`);
    expect(query("SELECT 1 FROM audit_log WHERE target_id = ? AND action = 'key.revoke'", k.id)).toHaveLength(1);
    expect((await fails(["keys", "revoke", "key_missing", "--db", DB])).code).toBe(1);
  });

  test("bad input exits 2 before touching the database", async () => {
    const count = () => query<{ n: number }>("SELECT count(*) AS n FROM api_keys")[0]!.n;
    const n = count();
    const cases: [string[], string][] = [
      [["--expires", "2001-01-01"], "--expires"],
      [["--expires", "tomorrow"], "--expires"],
      [["--expires", String(Date.now() + 3_600_000)], "--expires"],
      [["--spend-cap", "0"], "--spend-cap"],
      [["--spend-cap", "lots"], "--spend-cap"],
      [["--models", ","], "--models"],
      [["--name"], "--name"],
      [["--colour", "red"], "--colour"],
    ];
    for (const [flags, named] of cases) {
      const r = await fails(["keys", "create", accountId, ...flags, "--db", DB]);
      expect(r.code).toBe(2);
      expect(r.line).toContain(named);
    }
    expect((await fails(["keys", "rotate", created.id, "--grace", "-5", "--db", DB])).code).toBe(2);
    expect((await fails(["keys", "rotate", created.id, "--grace", "soon", "--db", DB])).code).toBe(2);
    expect((await fails(["keys", "create", "--db", DB])).code).toBe(2);
    // A model the gateway does not serve is refused as the admin API refuses it.
    const model = await fails(["keys", "create", accountId, "--models", "gpt-9", "--db", DB]);
    expect(model.code).toBe(1);
    expect(model.line).toContain("Unknown model: gpt-9.");
    expect(count()).toBe(n);
  });
});

describe("usage and configuration errors", () => {
  test("unknown command, subcommand and flag exit 2 with one line", async () => {
    for (const args of [[], ["frobnicate"], ["keys"], ["keys", "frob"], ["accounts", "list", "--bogus"], ["accounts", "list", "--json=yes"], ["serve", "extra"], ["migrate", "now"]]) {
      const r = await fails([...args, "--db", DB]);
      expect(r.code).toBe(2);
      expect(r.line).toStartWith("error: ");
      expect(r.stdout).toBe("");
    }
  });

  test("an invalid environment value exits 2 naming the field", async () => {
    const r = await fails(["accounts", "list", "--db", DB], { PORT: "abc" });
    expect(r.code).toBe(2);
    expect(r.line).toContain("port");
    expect(r.line).toContain("PORT");
    const serve = await fails(["serve", "--db", DB], { PORT: "70000" });
    expect(serve.code).toBe(2);
    expect(serve.line).toContain("port");
  });

  test("a misspelt TOLLGATE_* variable exits 2 naming it and the setting it resembles", async () => {
    const r = await fails(["accounts", "list", "--db", DB], { TOLLGATE_SETLE_BATCH_MS: "0" });
    expect(r.code).toBe(2);
    expect(r.line).toBe("invalid config: unknown environment variable: TOLLGATE_SETLE_BATCH_MS (did you mean TOLLGATE_SETTLE_BATCH_MS, the setting settle_batch_ms?)");
  });

  test("serve refuses a host or port it cannot listen on in one line naming them, before creating the database", async () => {
    const blocker = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(null) });
    try {
      const cases: [Record<string, string>, string][] = [
        [{ HOST: "127.0.0.1:8080" }, 'invalid config: host (env HOST): an IP address or host name, without a port or brackets, such as 0.0.0.0, 127.0.0.1, :: or localhost (got "127.0.0.1:8080")'],
        [{ HOST: "999.999.999.999" }, "invalid config: host (env HOST): an IP address or host name"],
        // A well-formed name is only known not to resolve when serve tries to listen.
        [{ HOST: "no-such-host.invalid" }, 'cannot listen on host "no-such-host.invalid" port 0 (host, env HOST; port, env PORT): the host name does not resolve'],
        [{ HOST: "127.0.0.1", PORT: String(blocker.port) }, `cannot listen on host "127.0.0.1" port ${blocker.port} (host, env HOST; port, env PORT): the port is in use`],
      ];
      for (const [env, message] of cases) {
        const db = join(dir, "never", "tollgate.db");
        const r = await fails(["serve", "--db", db], { PORT: "0", TOLLGATE_ADMIN_TOKEN: "test-admin-token-0123456789", ...env });
        expect(r.code).toBe(2);
        expect(r.line).toStartWith(message);
        expect(r.stdout).toBe("");
        expect(existsSync(join(dir, "never"))).toBe(false);
      }
    } finally {
      await blocker.stop(true);
    }
  });

  test("an invalid secret is named, never printed", async () => {
    const secrets: [string, string, string][] = [
      ["TOLLGATE_ADMIN_TOKEN", "hunter2-short", "admin_token"],
      ["TOLLGATE_DATABASE_URL", "mysql://admin:S3cretPw@db.example/tollgate", "database_url"],
      ["STRIPE_SECRET_KEY", "xk_live_S3cretStripe", "stripe_secret_key"],
      ["STRIPE_WEBHOOK_SECRET", "whsec1", "stripe_webhook_secret"],
      ["TOLLGATE_ALERT_WEBHOOK_URL", "ftp://hooks.example/S3cretToken", "alert_webhook_url"],
      ["TOLLGATE_ALERT_WEBHOOK_SECRET", "S3cret-short", "alert_webhook_secret"],
    ];
    for (const [name, value, field] of secrets) {
      const r = await fails(["accounts", "list", "--db", DB], { [name]: value });
      expect(r.code).toBe(2);
      expect(r.line).toContain(`${field} (env ${name})`);
      expect(r.line).not.toContain(value);
    }
    // Other values are still quoted back, which is what makes a typo easy to spot.
    expect((await fails(["accounts", "list", "--db", DB], { PORT: "80a" })).line).toContain('(got "80a")');
  });

  test("config file in JSON and TOML (and TOLLGATE_CONFIG), --db wins over db_path", async () => {
    const jsonDb = join(dir, "from-json.db");
    const tomlDb = join(dir, "from-toml.db");
    writeFileSync(join(dir, "c.json"), JSON.stringify({ db_path: jsonDb, key_prefix: "sk-json-" }));
    writeFileSync(join(dir, "c.toml"), `db_path = "${tomlDb}"\nkey_prefix = "sk-toml-"\n`);
    for (const [file, dbPath, prefix] of [["c.json", jsonDb, "sk-json-"], ["c.toml", tomlDb, "sk-toml-"]] as const) {
      const acc = await cli(["accounts", "create", "Configured", "--config", join(dir, file), "--json"]);
      expect(acc.code).toBe(0);
      const accountId = JSON.parse(acc.stdout).id as string;
      const key = await cli(["keys", "create", accountId, "--json"], { TOLLGATE_CONFIG: join(dir, file) });
      expect(key.code).toBe(0);
      expect(JSON.parse(key.stdout).key).toStartWith(prefix);
      const db = new Database(dbPath, { readonly: true });
      expect(db.query("SELECT id FROM accounts").all()).toEqual([{ id: accountId }]);
      db.close();
    }
    // The account exists only in DB: found through --db, not through the file's db_path.
    const mainOnly = (await json(["accounts", "create", "Main db"])).id as string;
    expect((await cli(["accounts", "show", mainOnly, "--config", join(dir, "c.json"), "--db", DB])).code).toBe(0);
    expect((await cli(["accounts", "show", mainOnly, "--config", join(dir, "c.json")])).code).toBe(1);
  });

  test("a bad config file exits 2 naming the field or the file", async () => {
    writeFileSync(join(dir, "bad.json"), JSON.stringify({ key_prefix: "has spaces!" }));
    writeFileSync(join(dir, "bad.toml"), "port = [not toml");
    const field = await fails(["accounts", "list", "--config", join(dir, "bad.json")]);
    expect(field.code).toBe(2);
    expect(field.line).toContain("key_prefix");
    const syntax = await fails(["accounts", "list", "--config", join(dir, "bad.toml")]);
    expect(syntax.code).toBe(2);
    expect(syntax.line).toContain("bad.toml");
    const missing = await fails(["accounts", "list", "--config", join(dir, "nope.json")]);
    expect(missing.code).toBe(2);
  });
});

describe("a database that cannot be opened", () => {
  /** serve and a CLI command alike: exit 1 and one line naming the file and what is wrong with it. */
  async function refused(db: string, cause: string) {
    for (const args of [["accounts", "list"], ["serve"]]) {
      const r = await fails([...args, "--db", db], { PORT: "0", HOST: "127.0.0.1", TOLLGATE_ADMIN_TOKEN: "test-admin-token-0123456789" });
      expect(r.code).toBe(1);
      expect(r.line).toStartWith(`error: cannot open the database ${db} (`);
      expect(r.line).toContain(cause);
    }
  }

  test("a folder, or a path through a file", async () => {
    const folder = join(dir, "a-folder.db");
    mkdirSync(folder);
    await refused(folder, "it is a folder");
    writeFileSync(join(dir, "a-file"), "");
    await refused(join(dir, "a-file", "tollgate.db"), `a part of its folder path ${join(dir, "a-file")} is a file, not a folder`);
  });

  test("a database the system will not let it write: a read-only disk (as root) or file (as any other user)", async () => {
    const place = join(dir, "read-only");
    mkdirSync(place);
    const db = join(place, "tollgate.db");
    expect((await cli(["migrate", "--db", db])).code).toBe(0);
    const root = process.getuid?.() === 0;
    if (root) {
      // Root may write any file: only a read-only mount stops it (a tmpfs over the folder, with the database copied in).
      const copy = await Bun.file(db).arrayBuffer();
      if (Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", place]).exitCode !== 0) return console.warn("skipped: this root may not mount");
      try {
        writeFileSync(db, new Uint8Array(copy));
        expect(Bun.spawnSync(["mount", "-o", "remount,ro", place]).exitCode).toBe(0);
        await refused(db, "the file system is read-only");
      } finally {
        Bun.spawnSync(["umount", place]);
      }
    } else {
      chmodSync(db, 0o444);
      // SQLite opens such a file read-only: serve would fail at its first write without naming the file.
      const serve = await fails(["serve", "--db", db], { PORT: "0", HOST: "127.0.0.1", TOLLGATE_ADMIN_TOKEN: "test-admin-token-0123456789" });
      expect(serve.code).toBe(1);
      expect(serve.line).toStartWith(`error: cannot open the database ${db} (`);
      expect(serve.line).toContain("may not read and write the file");
    }
  });
});

describe("next to a running server", () => {
  test("credits and revocations made by the CLI apply to the server at once", async () => {
    const db = join(dir, "shared.db");
    const server = await startGateway({ dbPath: db });
    try {
      const { accountId, keyId, key } = await server.customer(0);
      expect(((await (await server.me(key)).json()) as { balance_micros: number }).balance_micros).toBe(0);
      expect((await cli(["credits", "add", accountId, "3", "--db", db])).code).toBe(0);
      expect(((await (await server.me(key)).json()) as { balance_micros: number }).balance_micros).toBe(3_000_000);
      expect((await cli(["keys", "revoke", keyId, "--db", db])).code).toBe(0);
      expect((await server.me(key)).status).toBe(401);
    } finally {
      await server.stop();
    }
  });

  test("charges the gateway has journaled but not yet written to SQLite count in the CLI's balances and adjustments", async () => {
    const upstream = startFakeUpstream();
    const db = join(dir, "journaled.db");
    // Batches far apart: the charge stays in the journal while the CLI runs.
    const server = await startGateway({ dbPath: db, config: { settle_batch_ms: 10_000, ...fakeCatalogue(upstream.url) } });
    try {
      const { accountId, key } = await server.customer(1_000_000);
      const res = await chat(server.url, key, { model: "grok-4", messages: user("hello"), mock: { completion_tokens: 20 } });
      expect(res.status).toBe(200);
      await res.text();
      // The gateway's own view (no catching up: this is the credit store, not an HTTP request).
      const balance = server.runtime.deps.credits.balance(accountId).balance;
      const charge = 1_000_000 - balance;
      expect(charge).toBeGreaterThan(0);
      const sqlite = new Database(db, { readonly: true });
      expect(sqlite.query<{ b: number }, [string]>("SELECT balance_micros AS b FROM accounts WHERE id = ?").get(accountId)!.b).toBe(1_000_000);
      sqlite.close();

      const shown = JSON.parse((await cli(["accounts", "show", accountId, "--db", db, "--json"])).stdout) as { balance_micros: number; available_micros: number };
      expect(shown.balance_micros).toBe(balance);
      expect(shown.available_micros).toBe(balance);
      // One micro more than is available is refused, exactly what is available is taken.
      const over = await cli(["credits", "add", accountId, (-(balance + 1) / 1e6).toFixed(6), "--db", db]);
      expect(over.code).not.toBe(0);
      expect(over.stderr).toContain("exceeds the available credit");
      expect((await cli(["credits", "add", accountId, (-balance / 1e6).toFixed(6), "--db", db])).code).toBe(0);
      expect(server.runtime.deps.credits.balance(accountId).balance).toBe(0);
      await server.runtime.deps.credits.flush();
      const after = JSON.parse((await cli(["accounts", "show", accountId, "--db", db, "--json"])).stdout) as { balance_micros: number };
      expect(after.balance_micros).toBe(0);
    } finally {
      await server.stop();
      await upstream.stop();
    }
  });
});

describe("backup", () => {
  test("counts only the journaled charges the database lacked, and has each charge once", async () => {
    const db = join(dir, "backup-journal.db");
    const accountId = JSON.parse((await cli(["accounts", "create", "Journal Co", "--db", db, "--json"])).stdout).id as string;
    expect((await cli(["credits", "add", accountId, "10", "--db", db])).code).toBe(0);
    const settle = (requestId: string): SettleRecord => ({ t: "settle", requestId, accountId, keyId: null, amount: 2_000_000, charge: 1_500_000, persisted: false, at: Date.now() });
    // The gateway empties its journal only once all of it is written: r1 is in SQLite already, r2 not yet.
    writeFileSync(journalPath(db), [settle("req_r1"), settle("req_r2")].map((r) => `${JSON.stringify(r)}\n`).join(""));
    const store = new SqliteStore(db);
    new SettleWriter(store).commit([settle("req_r1")]);
    store.close();

    const copy = join(dir, "backup-journal-copy.db");
    const r = await cli(["backup", copy, "--db", db, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ journaled: 1, accounts: 1, mismatches: [] });
    const books = new Database(copy, { readonly: true });
    try {
      expect(books.query("SELECT request_id AS id, amount_micros AS amount FROM ledger_entries WHERE request_id IS NOT NULL ORDER BY request_id").all()).toEqual([
        { id: "req_r1", amount: -1_500_000 },
        { id: "req_r2", amount: -1_500_000 },
      ]);
      expect(books.query<{ b: number }, [string]>("SELECT balance_micros AS b FROM accounts WHERE id = ?").get(accountId)!.b).toBe(7_000_000);
    } finally {
      books.close();
    }
  });
});
