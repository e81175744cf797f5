/**
 * One customer must never hurt the others through the request itself: bodies are bounded by the
 * bytes read (not the declared length), slow bodies cannot pin connections, and every limit
 * answers in the OpenAI envelope. Against the compiled binary, whose memory is measured.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { fakeCatalogue } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway, type Customer } from "./support/gateway";

setDefaultTimeout(120_000);

let upstream: MockUpstream;
let gw: BinaryGateway;
let broke: Customer;
let funded: Customer;

beforeAll(async () => {
  upstream = startFakeUpstream();
  gw = await startBinaryGateway({
    dbPath: "t.db",
    config: { ...fakeCatalogue(upstream.url), idle_timeout_seconds: 5, timeouts: { body_ms: 2_000 }, log_format: "off" },
  });
  broke = await gw.customer(0);
  funded = await gw.customer(10_000_000);
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.stop();
});

/** The process's peak resident memory so far, in MiB. */
const peakMiB = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${gw.proc.pid}/status`, "utf8"))![1]) / 1024;

/** A chunked body of `mib` MiB (no content-length), sent as fast as the server takes it. */
function chunkedBody(mib: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(1024 * 1024).fill(0x61);
  let sent = 0;
  return new ReadableStream({
    pull(ctrl) {
      if (sent++ >= mib) ctrl.close();
      else ctrl.enqueue(chunk);
    },
  });
}

async function upload(path: string, headers: Record<string, string>, mib: number): Promise<{ status: number; code: string | null } | null> {
  try {
    const res = await fetch(gw.url + path, { method: "POST", headers, body: chunkedBody(mib), duplex: "half" } as RequestInit);
    const body = (await res.json().catch(() => null)) as { error?: { code: string | null } } | null;
    return { status: res.status, code: body?.error?.code ?? null };
  } catch {
    return null; // the server gave up on the body and closed the connection
  }
}

describe("bodies are bounded by the bytes read, not the declared length", () => {
  test("48 chunked 15 MiB uploads, with valid keys (a $0 account's among them) and to routes that need no big body, cost little memory", async () => {
    const before = peakMiB();
    const customer = { authorization: `Bearer ${broke.key}`, "content-type": "application/json" };
    const paying = { authorization: `Bearer ${funded.key}`, "content-type": "application/json" };
    const uploads = [
      ...Array.from({ length: 24 }, (_, i) => upload("/v1/chat/completions", i < 16 ? customer : paying, 15)),
      ...Array.from({ length: 8 }, () => upload("/admin/accounts", { "content-type": "application/json" }, 15)),
      ...Array.from({ length: 8 }, () => upload("/webhooks/stripe", { "content-type": "application/json" }, 15)),
      ...Array.from({ length: 8 }, () => upload("/portal/login", { "content-type": "application/x-www-form-urlencoded" }, 15)),
    ];
    const results = await Promise.all(uploads);
    const answered = results.filter((r) => r !== null);
    expect(answered.length).toBeGreaterThan(0);
    for (const r of answered) expect([401, 402, 404, 413]).toContain(r!.status);
    // A key that cannot pay for anything is refused before its body is read; a paying one reads max_body_bytes, no more.
    expect(results.slice(0, 16).some((r) => r?.status === 402 && r.code === "insufficient_quota")).toBe(true);
    expect(results.slice(16, 24).some((r) => r?.status === 413 && r.code === "request_too_large")).toBe(true);
    expect(results.slice(24, 32).some((r) => r?.status === 401)).toBe(true);
    // Reading whole bodies cost about 30 MiB each (over 1 GiB in all).
    expect(peakMiB() - before).toBeLessThan(200);
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });

  test("a declared body beyond Bun's old hard cap, and headers beyond 32 KiB, get the OpenAI envelope", async () => {
    const { hostname, port } = new URL(gw.url);
    let text = "";
    let done: () => void;
    const closed = new Promise<void>((r) => (done = r));
    const socket = await Bun.connect({
      hostname,
      port: Number(port),
      socket: { data: (_s, d) => void (text += new TextDecoder().decode(d)), close: () => done(), error: () => done() },
    });
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${funded.key}\r\ncontent-type: application/json\r\ncontent-length: ${64 * 1024 * 1024}\r\n\r\n{}`);
    await Promise.race([closed, Bun.sleep(3_000)]);
    socket.end();
    expect(text).toStartWith("HTTP/1.1 413");
    expect(text).toContain('"code":"request_too_large"');
    // A wrong admin token is a 401 whatever length the body declares (nothing of it is read).
    const admin = await fetch(`${gw.url}/admin/accounts`, {
      method: "POST",
      headers: { authorization: "Bearer wrong-admin-token-000000", "content-type": "application/json" },
      body: JSON.stringify({ name: "x".repeat(6 * 1024 * 1024) }),
    });
    expect(admin.status).toBe(401);
    expect(((await admin.json()) as { error: { code: string } }).error.code).toBe("invalid_admin_token");
    // With the right token, a declared length above the admin API's 1 MiB is a 413 before any of it is read.
    const right = await gw.admin("/admin/accounts", { body: { name: "x".repeat(2 * 1024 * 1024) } });
    expect(right.status).toBe(413);
    expect(((await right.json()) as { error: { code: string } }).error.code).toBe("request_too_large");
    for (const path of ["/v1/chat/completions", "/v1/models"]) {
      const res = await fetch(gw.url + path, {
        method: path.endsWith("models") ? "GET" : "POST",
        headers: { authorization: `Bearer ${funded.key}`, "x-padding": "p".repeat(40 * 1024) },
        body: path.endsWith("models") ? undefined : "{}",
      });
      expect(res.status).toBe(431);
      expect(res.headers.get("content-type")).toContain("application/json");
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("headers_too_large");
    }
  });
});

/** Opens a raw connection, sends the request line, headers and the first bytes of a chunked body, then nothing more. */
function slowRequest(key: string): Promise<{ response: () => string; closed: Promise<number> }> {
  const { hostname, port } = new URL(gw.url);
  let text = "";
  let done: (at: number) => void;
  const closed = new Promise<number>((r) => (done = r));
  return Bun.connect({
    hostname,
    port: Number(port),
    socket: {
      data(_s, data) {
        text += new TextDecoder().decode(data);
      },
      close() {
        done(performance.now());
      },
      error() {
        done(performance.now());
      },
    },
  }).then((socket) => {
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: ${hostname}\r\nauthorization: Bearer ${key}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n1\r\n{\r\n`,
    );
    return { response: () => text, closed };
  });
}

describe("slow bodies cannot pin connections", () => {
  test("600 connections with a wrong key sending one byte are answered 401 and closed within seconds; /healthz answers meanwhile", async () => {
    const t0 = performance.now();
    const conns = await Promise.all(Array.from({ length: 600 }, () => slowRequest("sk-tg-wrong-key")));
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    const closedAt = await Promise.all(conns.map((c) => c.closed));
    // The idle timeout is 5 s; the gateway drops an unwanted body after 3 s at most.
    for (const at of closedAt) expect(at - t0).toBeLessThan(5_000);
    for (const c of conns) expect(c.response()).toStartWith("HTTP/1.1 401");
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });

  test("a valid key with a body that never arrives gets 408 after timeouts.body_ms, and nothing is held", async () => {
    const t0 = performance.now();
    const conns = await Promise.all(Array.from({ length: 50 }, () => slowRequest(funded.key)));
    const closedAt = await Promise.all(conns.map((c) => c.closed));
    for (const at of closedAt) expect(at - t0).toBeLessThan(2_000 + 3_000 + 1_000);
    for (const c of conns) {
      expect(c.response()).toStartWith("HTTP/1.1 408");
      expect(c.response()).toContain('"code":"request_timeout"');
    }
    const account = (await (await gw.admin(`/admin/accounts/${funded.accountId}`)).json()) as { held_micros: number; balance_micros: number };
    expect(account).toMatchObject({ held_micros: 0, balance_micros: 10_000_000 });
  });
});
