import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { ApiError } from "../src/lib/errors";
import { sha256Hex } from "../src/lib/crypto";
import { randomBase62 } from "../src/lib/ids";
import { updateAccount } from "../src/modules/accounts/service";
import { listAudit } from "../src/modules/audit/service";
import { resolveAdminToken } from "../src/identity/admin-token";
import { generateKey, getKeyRow, keyView, listKeys, revokeKey, rotateKey } from "../src/modules/keys/service";
import { KeyAuthenticator } from "../src/gateway/key-auth";
import { apiErrorOf, freshDb, manualClock, rejectionOf, seedAccount, seedKey } from "./support/foundation";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const db = freshDb();
  const clock = manualClock(Date.now());
  const auth = new KeyAuthenticator(db, clock.now);
  const acc = seedAccount(db, 1_000_000);
  return { db, clock, auth, acc };
}

/** The ApiError a promise rejects with. */
async function apiErrorOfAsync(p: Promise<unknown>): Promise<ApiError> {
  const e = await rejectionOf(p);
  if (!(e instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(e)}`);
  return e;
}

function expectInvalidKey(fn: () => unknown, message?: RegExp) {
  const e = apiErrorOf(fn);
  expect(e.status).toBe(401);
  expect(e.code).toBe("invalid_api_key");
  expect(e.type).toBe("invalid_request_error");
  if (message) expect(e.message).toMatch(message);
  return e;
}

describe("key format and storage", () => {
  test("keys are the prefix plus at least 32 base62 characters, all different", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const { key, hash, last4 } = generateKey("sk-tg-");
      expect(key).toMatch(/^sk-tg-[0-9A-Za-z]{32,}$/);
      expect(hash).toBe(sha256Hex(key));
      expect(last4).toBe(key.slice(-4));
      seen.add(key);
    }
    expect(seen.size).toBe(500);
    expect(generateKey("tg_").key).toMatch(/^tg_[0-9A-Za-z]{32,}$/);
  });

  test("randomBase62 uses the whole alphabet", () => {
    const chars = new Set(randomBase62(20_000));
    expect(chars.size).toBe(62);
  });

  test("the database file and its WAL never contain a key or the admin token in plaintext", async () => {
    const dir = mkdtempSync("/tmp/tollgate-keys-");
    dirs.push(dir);
    const path = `${dir}/t.db`;
    const db = freshDb(path);
    const admin = (await resolveAdminToken(db, undefined)).generated!;
    const acc = seedAccount(db, 1_000_000);
    const keys: string[] = [];
    for (let i = 0; i < 5; i++) keys.push(seedKey(db, acc, { name: `k${i}`, models: ["grok-4"] }).key);
    const first = seedKey(db, acc);
    keys.push(first.key, (await rotateKey(db, first.row.id, 60, "admin")).key);
    const auth = new KeyAuthenticator(db);
    for (const k of keys) auth.authenticate(k);
    auth.flushTouches();
    const secrets = [admin, ...keys];
    // The secret part alone must not appear either (e.g. stored without its prefix).
    const needles = secrets.flatMap((s) => [s, s.slice(s.length - 32)]);
    const scan = () => {
      const files = [path, `${path}-wal`, `${path}-shm`].filter(existsSync);
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) {
        const text = readFileSync(f).toString("latin1");
        for (const n of needles) expect(text.includes(n)).toBe(false);
      }
      return files;
    };
    expect(scan()).toContain(`${path}-wal`);
    // The hashes are there (so the scan does look at real data).
    const bytes = [path, `${path}-wal`].filter(existsSync).map((f) => readFileSync(f).toString("latin1")).join("");
    expect(bytes.includes(sha256Hex(keys[0]!))).toBe(true);
    db.sqlite.close(); // checkpoints the WAL into the main file
    scan();
  });
});

describe("views", () => {
  test("display is the prefix and the last four characters; lists never carry the key or hash", async () => {
    const { db, acc } = setup();
    const { row, key } = seedKey(db, acc, { name: "ci" });
    const view = keyView(row);
    expect(view.display).toBe(`sk-tg-…${key.slice(-4)}`);
    expect(view.display).not.toContain(key.slice(6, -4));
    const all = JSON.stringify((await listKeys(db, acc)).map((k) => keyView(k)));
    expect(all).not.toContain(key);
    expect(all).not.toContain(row.hash);
    expect(JSON.stringify((await listAudit(db, { limit: 100 })))).not.toContain(row.hash);
  });
});

describe("authentication", () => {
  test("resolves a valid key to its account and settings", () => {
    const { db, auth, acc, clock } = setup();
    const expires = Math.floor(clock.now() / 1000) + 3600;
    const { row, key } = seedKey(db, acc, { name: "prod", models: ["grok-4", "grok-3"], expires_at: expires, spend_cap_micros: 500 });
    expect(auth.authenticate(key)).toMatchObject({
      keyId: row.id,
      keyName: "prod",
      keyDisplay: `sk-tg-…${key.slice(-4)}`,
      models: ["grok-4", "grok-3"],
      expiresAt: expires * 1000,
      spendCapMicros: 500,
      accountId: acc,
      accountName: "Acme",
      plan: "default",
    });
    expect(auth.authenticate(seedKey(db, acc).key).models).toBeNull();
  });

  test("missing, unknown and almost-right keys are 401 invalid_api_key", () => {
    const { db, auth, acc } = setup();
    const { key } = seedKey(db, acc);
    expectInvalidKey(() => auth.authenticate(undefined), /didn't provide/);
    expectInvalidKey(() => auth.authenticate(""));
    const e = expectInvalidKey(() => auth.authenticate(`${key.slice(0, -1)}${key.endsWith("x") ? "y" : "x"}`), /Incorrect API key/);
    expect(e.message).not.toContain(key.slice(6, -4));
    expectInvalidKey(() => auth.authenticate(key.toLowerCase() === key ? key.toUpperCase() : key.toLowerCase()));
  });

  test("expiry: accepted as unix seconds or ISO, in the past is refused, 401 once passed", () => {
    const { db, auth, acc, clock } = setup();
    const at = clock.now() + 60_000;
    const { key } = seedKey(db, acc, { expires_at: new Date(at).toISOString() }, clock.now());
    auth.authenticate(key);
    clock.set(at - 1);
    auth.authenticate(key);
    clock.set(at);
    expectInvalidKey(() => auth.authenticate(key), /expired/);
    const past = apiErrorOf(() => seedKey(db, acc, { expires_at: Math.floor(clock.now() / 1000) - 1 }, clock.now()));
    expect(past.status).toBe(400);
    expect(past.param).toBe("expires_at");
  });

  test("revoke applies on the next request and is idempotent (audited once)", async () => {
    const { db, auth, acc } = setup();
    const { row, key } = seedKey(db, acc);
    auth.authenticate(key);
    const revoked = await revokeKey(db, row.id, "admin");
    expect(keyView(revoked).status).toBe("revoked");
    expectInvalidKey(() => auth.authenticate(key), /revoked/);
    await revokeKey(db, row.id, "admin");
    expect((await listAudit(db, { limit: 100, targetId: row.id })).filter((a) => a.action === "key.revoke")).toHaveLength(1);
    expect((await apiErrorOfAsync(revokeKey(db, "key_nope", "admin"))).status).toBe(404);
  });

  test("a suspended account's keys are 401 until it is reactivated", async () => {
    const { db, auth, acc } = setup();
    const { key } = seedKey(db, acc);
    (await updateAccount(db, acc, { status: "suspended" }, "admin"));
    expectInvalidKey(() => auth.authenticate(key), /suspended/);
    (await updateAccount(db, acc, { status: "active" }, "admin"));
    expect(auth.authenticate(key).accountId).toBe(acc);
  });

  test("last-used times are batched: no write per request, one flush writes them", async () => {
    const { db, auth, acc, clock } = setup();
    const a = seedKey(db, acc);
    const b = seedKey(db, acc);
    const lastUsed = async (id: string) => (await getKeyRow(db, id)).lastUsedAt;
    auth.authenticate(a.key);
    clock.advance(1000);
    auth.authenticate(a.key);
    auth.authenticate(b.key);
    expect(await lastUsed(a.row.id)).toBeNull();
    expect(auth.flushTouches()).toBe(2);
    expect(await lastUsed(a.row.id)).toBe(clock.now());
    expect(await lastUsed(b.row.id)).toBe(clock.now());
    expect(auth.flushTouches()).toBe(0);
    expect(keyView(await getKeyRow(db, a.row.id)).last_used_at).toBe(Math.floor(clock.now() / 1000));
  });
});

test("a busy database does not make the last-used flush throw; the times are kept for the next flush", async () => {
  const dir = mkdtempSync("/tmp/tollgate-keys-");
  dirs.push(dir);
  const db = freshDb(`${dir}/t.db`);
  const acc = seedAccount(db, 0);
  const { row, key } = seedKey(db, acc);
  const auth = new KeyAuthenticator(db, () => 42_000);
  auth.authenticate(key);
  db.sqlite.exec("PRAGMA busy_timeout = 0");
  const other = freshDb(`${dir}/t.db`);
  other.sqlite.exec("BEGIN IMMEDIATE");
  const originalError = console.error;
  console.error = () => {};
  try {
    expect(auth.flushTouches()).toBe(0);
  } finally {
    console.error = originalError;
    other.sqlite.exec("ROLLBACK");
    other.sqlite.close();
  }
  expect((await getKeyRow(db, row.id)).lastUsedAt).toBeNull();
  expect(auth.flushTouches()).toBe(1);
  expect((await getKeyRow(db, row.id)).lastUsedAt).toBe(42_000);
  db.sqlite.close();
});

describe("rotation", () => {
  test("without grace: the old key stops at once, the new one keeps the settings", async () => {
    const { db, auth, acc, clock } = setup();
    const expires = Math.floor(clock.now() / 1000) + 86_400;
    const old = seedKey(db, acc, { name: "prod", models: ["grok-4"], spend_cap_micros: 900, expires_at: expires }, clock.now());
    const { row, key } = await rotateKey(db, old.row.id, 0, "admin", clock.now());
    expect(key).not.toBe(old.key);
    expect(row.id).not.toBe(old.row.id);
    expect(row).toMatchObject({ name: "prod", models: ["grok-4"], spendCapMicros: 900, expiresAt: expires * 1000, accountId: acc });
    expectInvalidKey(() => auth.authenticate(old.key), /revoked/);
    expect(auth.authenticate(key).keyId).toBe(row.id);
    const oldRow = await getKeyRow(db, old.row.id);
    expect(keyView(oldRow, clock.now())).toMatchObject({ status: "revoked", rotated_to: row.id });
    const [a] = (await listAudit(db, { limit: 1, targetId: old.row.id }));
    expect(a!.action).toBe("key.rotate");
    expect(JSON.stringify(a)).not.toContain(old.row.hash);
  });

  test("with grace: both keys work until the grace period ends (injected clock)", async () => {
    const { db, auth, acc, clock } = setup();
    const old = seedKey(db, acc, {}, clock.now());
    const { key } = await rotateKey(db, old.row.id, 300, "admin", clock.now());
    clock.advance(299_999);
    expect(auth.authenticate(old.key).keyId).toBe(old.row.id);
    expect(keyView(await getKeyRow(db, old.row.id), clock.now()).status).toBe("active");
    clock.advance(1);
    expectInvalidKey(() => auth.authenticate(old.key), /expired/);
    expect(keyView(await getKeyRow(db, old.row.id), clock.now()).status).toBe("expired");
    auth.authenticate(key);
  });

  test("grace never extends an earlier expiry", async () => {
    const { db, acc, clock } = setup();
    const expires = Math.floor(clock.now() / 1000) + 10;
    const old = seedKey(db, acc, { expires_at: expires }, clock.now());
    await rotateKey(db, old.row.id, 3600, "admin", clock.now());
    expect((await getKeyRow(db, old.row.id)).expiresAt).toBe(expires * 1000);
  });

  test("the replacement inherits what the key already spent, so rotation does not reset its spend cap", async () => {
    const { db, acc, clock } = setup();
    const old = seedKey(db, acc, { spend_cap_micros: 1000 }, clock.now());
    db.sqlite.run("UPDATE api_keys SET spent_micros = 700 WHERE id = ?", [old.row.id]);
    const { row } = await rotateKey(db, old.row.id, 0, "admin", clock.now());
    expect((await getKeyRow(db, row.id)).spentMicros).toBe(700);
  });

  test("a revoked or unknown key cannot be rotated", async () => {
    const { db, acc, clock } = setup();
    const old = seedKey(db, acc, {}, clock.now());
    await revokeKey(db, old.row.id, "admin", clock.now());
    const e = await apiErrorOfAsync(rotateKey(db, old.row.id, 0, "admin", clock.now()));
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(400);
    expect(e.code).toBe("key_inactive");
    expect((await apiErrorOfAsync(rotateKey(db, "key_nope", 0, "admin"))).status).toBe(404);
  });
});
