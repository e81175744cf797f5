import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkLedgerSync } from "../src/money/ledger";
import { SqliteStore } from "../src/store/sqlite-store";
import { ensureBinary } from "./support/binary";
import { chat, until, user } from "./support/chat";
import { fakeCatalogue, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startBinaryGateway } from "./support/gateway";
import { cutStreamCost, elapsedSince, gatewayOver, readSseTimed } from "./support/resilience";

/**
 * Graceful shutdown with requests in flight: those that finish within the grace period finish
 * normally; the rest are ended (streams with an error event) and every hold is settled or
 * released before the database closes. In process (stop()) and for the binary (SIGTERM).
 */
setDefaultTimeout(120_000);
const CREDITS = 10_000_000;
const GRACE = 1_500;
const dir = mkdtempSync(join(tmpdir(), "tollgate-shutdown-"));
let upstream: MockUpstream;

beforeAll(() => {
  upstream = startFakeUpstream();
});
afterAll(async () => {
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Reopens a stopped gateway's database file and returns what the checks need. */
function inspect(path: string, accountId: string) {
  const db = new SqliteStore(path);
  const sqlite = db.sqlite;
  try {
    const charges = sqlite
      .query<{ request_id: string; amount_micros: number }, [string]>("SELECT request_id, amount_micros FROM ledger_entries WHERE account_id = ? AND kind = 'charge'")
      .all(accountId);
    return {
      integrity: checkLedgerSync(db),
      holds: sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM credit_holds").get()!.n,
      balance: sqlite.query<{ b: number }, [string]>("SELECT balance_micros AS b FROM accounts WHERE id = ?").get(accountId)!.b,
      charges: new Map(charges.map((c) => [c.request_id, -c.amount_micros])),
      chargeRows: charges.length,
    };
  } finally {
    sqlite.close();
  }
}

const slowStream = { prompt_tokens: 10, completion_tokens: 8, chunk_delay_ms: 100 };
const hungStream = { hang: "body", after_chunks: 2, completion_tokens: 30 } as const;

describe("graceful stop with requests in flight (in process)", () => {
  test("finishing requests complete and are charged; the rest end at the grace deadline; no hold survives", async () => {
    const dbPath = join(dir, "inproc.db");
    const gw = await gatewayOver([{ id: "fake", url: upstream.url }], {
      db_path: dbPath,
      shutdown_grace_ms: GRACE,
      timeouts: { connect_ms: 500, first_byte_ms: 20_000, stream_gap_ms: 20_000, total_ms: 30_000 },
      hold_ttl_seconds: 60,
    });
    const c = await gw.customer(CREDITS);
    const before = upstream.requests.length;
    const hungBody = { model: "grok-4", messages: user("Keep talking"), stream: true, mock: hungStream };
    const s1 = chat(gw.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: slowStream });
    const s2 = chat(gw.url, c.key, hungBody);
    const n1 = chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: { delay_ms: 600, prompt_tokens: 9, completion_tokens: 4 } });
    const n2 = chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: { hang: "headers" } });
    expect(await until(() => upstream.requests.length - before === 4, 5_000)).toBe(true);
    const [r1, r2] = await Promise.all([s1, s2]);
    const reading = [readSseTimed(r1), readSseTimed(r2)];

    const t0 = performance.now();
    const stopping = gw.stop();
    // New work is refused while draining (closed listener, or 503 on a kept-alive connection).
    const late = await chat(gw.url, c.key, { model: "grok-4", messages: user() }).catch(() => null);
    if (late) {
      expect(late.status).toBe(503);
      expect(late.headers.get("retry-after")).toBe("1");
    }
    await stopping;
    const took = elapsedSince(t0);
    expect(took).toBeGreaterThanOrEqual(GRACE - 100);
    expect(took).toBeLessThan(GRACE + 3_000);

    const [sse1, sse2] = await Promise.all(reading);
    expect(sse1!.done).toBe(true);
    expect(sse2!.done).toBe(false);
    expect((sse2!.events.at(-1) as { error: { code: string; type: string } }).error).toMatchObject({ code: "server_shutting_down", type: "server_error" });
    const [res1, res2] = await Promise.all([n1, n2]);
    expect(res1.status).toBe(200);
    expect(res2.status).toBe(503);
    expect(((await res2.json()) as { error: { code: string } }).error.code).toBe("server_shutting_down");

    const after = inspect(dbPath, c.accountId);
    expect(after.integrity).toEqual([]);
    expect(after.holds).toBe(0);
    expect(after.chargeRows).toBe(3);
    expect(after.charges.get(r1.headers.get("x-request-id")!)).toBe(10 * 3 + 8 * 15);
    expect(after.charges.get(res1.headers.get("x-request-id")!)).toBe(9 * 3 + 4 * 15);
    expect(after.charges.get(r2.headers.get("x-request-id")!)).toBe(cutStreamCost(hungBody, sse2!.events));
    expect(after.charges.has(res2.headers.get("x-request-id")!)).toBe(false);
    expect(after.balance).toBe(CREDITS - [...after.charges.values()].reduce((a, b) => a + b, 0));
  });
});

describe("a request waiting to retry", () => {
  test("is ended at the grace deadline with 503 server_shutting_down, not after its back-off; nothing charged", async () => {
    const dbPath = join(dir, "backoff.db");
    const gw = await gatewayOver([{ id: "fake", url: upstream.url }], {
      db_path: dbPath,
      shutdown_grace_ms: GRACE,
      retry: { max_attempts: 3, base_ms: 50, budget_ms: 25_000 },
      timeouts: { connect_ms: 500, first_byte_ms: 20_000, stream_gap_ms: 20_000, total_ms: 30_000 },
      hold_ttl_seconds: 60,
    });
    const c = await gw.customer(CREDITS);
    const before = upstream.requests.length;
    // The upstream asks for 20 s before a retry: the gateway sleeps, holding the request.
    const waiting = chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: { status: 503, retry_after: "20", fail_times: 1 } });
    expect(await until(() => upstream.requests.length - before === 1, 5_000)).toBe(true);
    await Bun.sleep(100);
    const t0 = performance.now();
    await gw.stop();
    expect(elapsedSince(t0)).toBeLessThan(GRACE + 3_000);
    const res = await waiting;
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("server_shutting_down");
    expect(upstream.requests.length - before).toBe(1);
    const after = inspect(dbPath, c.accountId);
    expect(after).toMatchObject({ integrity: [], holds: 0, chargeRows: 0, balance: CREDITS });
  });
});

describe("an answer still being written", () => {
  test("a slow client gets the whole of a finished answer within the grace period; an idle gateway stops at once", async () => {
    const gw = await gatewayOver([{ id: "fake", url: upstream.url }], { max_body_bytes: 33_554_432, shutdown_grace_ms: 20_000 });
    const c = await gw.customer(CREDITS);
    // More than the loopback socket buffers hold: most of it is still to be written when the stop begins.
    const body = JSON.stringify({ model: "grok-4", messages: user(), mock: { text: "x".repeat(12 * 1024 * 1024) } });
    const sock = connect({ host: "127.0.0.1", port: Number(new URL(gw.url).port) });
    await new Promise<void>((r) => sock.once("connect", () => r()));
    let head = "";
    let received = 0;
    sock.on("data", (d: Buffer) => {
      if (head.includes("\r\n\r\n")) return void (received += d.length);
      head += d.toString("latin1");
      const end = head.indexOf("\r\n\r\n");
      if (end >= 0) received += Buffer.byteLength(head.slice(end + 4), "latin1");
    });
    sock.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${c.key}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    expect(await until(() => received > 0, 10_000)).toBe(true);
    // The client stops reading (a slow mobile link), and reads on 1.5 s into the stop.
    sock.pause();
    await Bun.sleep(300);
    const t0 = performance.now();
    const stopping = gw.stop();
    await Bun.sleep(1_500);
    sock.resume();
    await stopping;
    await until(() => sock.readableLength === 0 && received >= Number(/content-length: (\d+)/i.exec(head)?.[1]), 2_000);
    sock.destroy();
    expect(head).toStartWith("HTTP/1.1 200");
    expect(received).toBe(Number(/content-length: (\d+)/i.exec(head)![1]));
    expect(elapsedSince(t0)).toBeLessThan(20_000);

    // With nothing in flight (only a kept-alive connection), the stop does not wait for the grace.
    const idle = await gatewayOver([{ id: "fake", url: upstream.url }], { shutdown_grace_ms: 20_000 });
    expect((await fetch(`${idle.url}/healthz`)).status).toBe(200);
    const t1 = performance.now();
    await idle.stop();
    expect(elapsedSince(t1)).toBeLessThan(1_000);
  });

  test("a connection holding half a request does not hold the stop for the grace period", async () => {
    const gw = await gatewayOver([{ id: "fake", url: upstream.url }], { shutdown_grace_ms: 20_000 });
    const sock = connect({ host: "127.0.0.1", port: Number(new URL(gw.url).port) });
    sock.on("error", () => {});
    await new Promise<void>((r) => sock.once("connect", () => r()));
    sock.write("GET /healthz HTTP/1.1\r\nhost: x\r\n");
    await Bun.sleep(200);
    const t0 = performance.now();
    await gw.stop();
    sock.destroy();
    // A second for connections still writing, as before; not the 20 s grace.
    expect(elapsedSince(t0)).toBeLessThan(10_000);
  });
});

describe("the compiled binary on SIGTERM", () => {
  test("streams in flight: the finishing one gets [DONE], the hung one an error event; exit 0; ledger exact", async () => {
    await ensureBinary();
    const ADMIN = "shutdown-admin-token-0123456789";
    const dbPath = join(dir, "binary.db");
    const gw = await startBinaryGateway({
      dir,
      config: {
        ...fakeCatalogue(upstream.url),
        shutdown_grace_ms: GRACE,
        timeouts: { connect_ms: 500, first_byte_ms: 20_000, stream_gap_ms: 20_000, total_ms: 30_000 },
        hold_ttl_seconds: 60,
      },
      adminToken: ADMIN,
      dbPath,
    });
    try {
      const { accountId, key } = await gw.customer(CREDITS, {}, { name: "Shutdown Co" });

      const hungBody = { model: "grok-4", messages: user("Keep talking"), stream: true, mock: hungStream };
      const [r1, r2] = await Promise.all([
        chat(gw.url, key, { model: "grok-4", messages: user(), stream: true, mock: slowStream }),
        chat(gw.url, key, hungBody),
      ]);
      expect([r1.status, r2.status]).toEqual([200, 200]);
      const reading = Promise.all([readSseTimed(r1), readSseTimed(r2)]);
      const t0 = performance.now();
      gw.proc.kill("SIGTERM");
      expect(await gw.proc.exited).toBe(0);
      expect(elapsedSince(t0)).toBeLessThan(GRACE + 5_000);
      expect(gw.output()).toContain("SIGTERM: shutting down");
      const [sse1, sse2] = await reading;
      expect(sse1.done).toBe(true);
      expect((sse2.events.at(-1) as { error: { code: string } }).error.code).toBe("server_shutting_down");

      const after = inspect(dbPath, accountId);
      expect(after.integrity).toEqual([]);
      expect(after.holds).toBe(0);
      expect(after.chargeRows).toBe(2);
      expect(after.charges.get(r1.headers.get("x-request-id")!)).toBe(10 * 3 + 8 * 15);
      expect(after.charges.get(r2.headers.get("x-request-id")!)).toBe(cutStreamCost(hungBody, sse2.events));
    } finally {
      await gw.stop("SIGKILL");
    }
  });
});
