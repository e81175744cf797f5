/**
 * The money floor: the metering floor with extras (bench/json-floor.ts) plus the least any gateway
 * keeping Tollgate's money rules must do per request, written as plainly as possible:
 * the key's hash looked up in memory, the balance checked and held in memory (no await between),
 * the charge made durable before the answer completes (one journal write per event-loop turn, as
 * Tollgate's group commit), then written to SQLite in batches of 16 with Tollgate's own schema and
 * indexes (a ledger entry unique per request id, a usage row, the account's balance), and one log
 * line (written with the turn's others in one write); a stream is read event by event as the
 * metering floor's and ends once its charge is durable. No limits, budgets, plans, retries,
 * breakers or validation. Chat completions only. Served by bench/json-proxy.ts (MONEY=1) and
 * called in process by bench/hot-path.ts (--floor=money): Tollgate above it is what its features
 * and structure cost.
 */
import { closeSync, ftruncateSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { SqliteStore } from "../src/store/sqlite-store";
import { RATE_HEADERS, tapped } from "./json-floor";

interface Charge {
  requestId: string;
  accountId: string;
  keyId: string;
  model: string;
  prompt: number;
  completion: number;
  micros: number;
  at: number;
}

const BATCH = 16;

export function moneyFloor(upstream: string, dir: string, key: string): { handler: (req: Request) => Promise<Response>; close: () => void } {
  const store = new SqliteStore(join(dir, "money-floor.db"));
  store.migrate();
  store.sqlite.query("INSERT INTO accounts (id, name, balance_micros, created_at) VALUES ('acc_1', 'bench', 1000000000000, 0)").run();
  store.sqlite.query("INSERT INTO api_keys (id, account_id, hash, prefix, last4, created_at) VALUES ('key_1', 'acc_1', 'h', 'sk', 'abcd', 0)").run();
  const keys = new Map([[new Bun.CryptoHasher("sha256").update(key).digest("hex"), { keyId: "key_1", accountId: "acc_1" }]]);
  const account = { balance: 1_000_000_000_000, held: 0 };
  const journal = openSync(join(dir, "money-floor.journal"), "a");
  const ledger = store.sqlite.query(
    "INSERT INTO ledger_entries (account_id, kind, amount_micros, balance_after_micros, request_id, key_id, created_at) VALUES (?, 'charge', ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
  );
  const usage = store.sqlite.query(
    "INSERT INTO usage_log (request_id, account_id, key_id, model, stream, status, prompt_tokens, completion_tokens, cost_micros, created_at) VALUES (?, ?, ?, ?, 0, 200, ?, ?, ?, ?)",
  );
  const debit = store.sqlite.query("UPDATE accounts SET balance_micros = balance_micros - ? WHERE id = ?");
  let sqlBalance = account.balance;
  const writeRows = store.sqlite.transaction((rows: Charge[]) => {
    let total = 0;
    for (const c of rows) {
      usage.run(c.requestId, c.accountId, c.keyId, c.model, c.prompt, c.completion, c.micros, c.at);
      total += c.micros;
      ledger.run(c.accountId, -c.micros, sqlBalance - total, c.requestId, c.keyId, c.at);
    }
    debit.run(total, "acc_1");
    sqlBalance -= total;
  });
  let unwritten: Charge[] = [];
  // Log lines go out in one write per turn, as Tollgate's do (a write per line would cost more than the line).
  let lines = "";
  let group: { charge: Charge; resolve: () => void }[] = [];
  const commit = () => {
    const g = group;
    group = [];
    writeSync(journal, g.map((x) => JSON.stringify(x.charge)).join("\n") + "\n");
    if (lines) {
      writeSync(1, lines);
      lines = "";
    }
    for (const x of g) {
      unwritten.push(x.charge);
      x.resolve();
    }
    if (unwritten.length >= BATCH) {
      writeRows.immediate(unwritten);
      unwritten = [];
      ftruncateSync(journal, 0);
    }
  };
  const durable = (charge: Charge) =>
    new Promise<void>((resolve) => {
      if (group.push({ charge, resolve }) === 1) setImmediate(commit);
    });
  let n = 0;
  type Usage = { prompt_tokens: number; completion_tokens: number };
  /** The charge of one answer: durable first, then the hold released and the balance debited, then its log line. */
  const settle = async (c: { requestId: string; owner: { keyId: string; accountId: string }; model: string; hold: number; started: number }, u: Usage) => {
    const micros = u.prompt_tokens * 3 + u.completion_tokens * 15;
    await durable({ requestId: c.requestId, ...c.owner, model: c.model, prompt: u.prompt_tokens, completion: u.completion_tokens, micros, at: Date.now() });
    account.held -= c.hold;
    account.balance -= micros;
    lines += JSON.stringify({ request_id: c.requestId, account_id: c.owner.accountId, key_id: c.owner.keyId, model: c.model, status: 200, cost_micros: micros, latency_ms: Math.round(performance.now() - c.started) }) + "\n";
  };
  const handler = async (req: Request): Promise<Response> => {
    const started = performance.now();
    const auth = req.headers.get("authorization") ?? "";
    const owner = keys.get(new Bun.CryptoHasher("sha256").update(auth.slice(7)).digest("hex"));
    if (!owner) return new Response("unknown key", { status: 401 });
    const body = JSON.parse(await req.text()) as { model: string; max_tokens?: number; stream?: boolean };
    const hold = ((body.max_tokens ?? 4096) + 1000) * 15;
    if (account.balance - account.held < hold) return new Response("no credit", { status: 402 });
    account.held += hold;
    const requestId = `req_${Date.now().toString(36)}${(++n).toString(36)}`;
    const charge = { requestId, owner, model: body.model, hold, started };
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    req.signal.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(onAbort, 600_000);
    const res = await fetch(upstream + new URL(req.url).pathname, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer upstream-key" },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    const headers = { "content-type": body.stream ? "text/event-stream" : "application/json", "x-request-id": requestId, ...RATE_HEADERS };
    const done = () => {
      clearTimeout(timer);
      req.signal.removeEventListener("abort", onAbort);
    };
    if (body.stream) {
      // The stream ends only once its charge is durable, as Tollgate's does.
      const end = (usage: unknown) => (done(), settle(charge, usage as Usage));
      return new Response(tapped(res.body!, end), { status: 200, headers });
    }
    const json = JSON.parse(await res.text()) as { usage: Usage };
    done();
    await settle(charge, json.usage);
    return new Response(JSON.stringify(json), { status: 200, headers });
  };
  const close = () => {
    // The floor must have done its work: every charge made is in the ledger or still journaled.
    const rows = store.sqlite.query("SELECT count(*) AS n FROM ledger_entries").get() as { n: number };
    if (rows.n + unwritten.length !== n) throw new Error(`money floor: ${n} charges, ${rows.n} in the ledger and ${unwritten.length} journaled`);
    if (lines) writeSync(1, lines);
    closeSync(journal);
    store.close();
  };
  return { handler, close };
}
