import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chat, readSse, user } from "./support/chat";
import { startGateway, type Gateway } from "./support/gateway";

/**
 * GET /metrics on a real server after real traffic: well-formed Prometheus text, and counters that
 * agree exactly with what the clients saw (statuses, usage) and with the money (the balance).
 */
setDefaultTimeout(30_000);
let g: Gateway;
let customer: { accountId: string; key: string };
const CREDITS = 10_000_000;

beforeAll(async () => {
  g = await startGateway({ upstream: true });
  customer = await g.customer(CREDITS);
});
afterAll(() => g.stop());

type Sample = { name: string; labels: Record<string, string>; value: number };

/** Parses the exposition format strictly: every line is a comment of a known kind or a sample. */
function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helps = new Set<string>();
  expect(text.endsWith("\n")).toBe(true);
  for (const line of text.slice(0, -1).split("\n")) {
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (comment) {
      const [, kind, name, rest] = comment;
      if (kind === "TYPE") {
        expect(types.has(name!)).toBe(false);
        expect(["counter", "gauge", "histogram"]).toContain(rest!);
        types.set(name!, rest!);
      } else {
        expect(helps.has(name!)).toBe(false);
        helps.add(name!);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? (-?[0-9.e+-]+|\+Inf)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const family = m[1]!.replace(/_(bucket|sum|count)$/, "");
    expect(types.has(m[1]!) || types.get(family) === "histogram").toBe(true);
    samples.push({ name: m[1]!, labels, value: m[3] === "+Inf" ? Infinity : Number(m[3]) });
  }
  return { samples, types };
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);

async function scrape(): Promise<Sample[]> {
  const res = await g.admin("/metrics");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  return parse(await res.text()).samples;
}

describe("GET /metrics", () => {
  test("needs the admin token", async () => {
    const none = await fetch(`${g.url}/metrics`);
    expect(none.status).toBe(401);
    const customerKey = await fetch(`${g.url}/metrics`, { headers: { authorization: `Bearer ${customer.key}` } });
    expect(customerKey.status).toBe(401);
  });

  test("counts every response and metered request, tokens and credit exactly as the clients and the ledger saw them", async () => {
    const before = await scrape();
    const tokens = { prompt: 0, completion: 0 };
    const plain = await chat(g.url, customer.key, { model: "grok-4", messages: user("one"), mock: { completion_tokens: 7 } });
    expect(plain.status).toBe(200);
    const usage = ((await plain.json()) as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
    tokens.prompt += usage.prompt_tokens;
    tokens.completion += usage.completion_tokens;
    const stream = await chat(g.url, customer.key, {
      model: "grok-4",
      messages: user("two"),
      stream: true,
      stream_options: { include_usage: true },
      mock: { completion_tokens: 9 },
    });
    const events = (await readSse(stream)).events as { usage?: { prompt_tokens: number; completion_tokens: number } }[];
    const streamUsage = events.find((e) => e.usage)!.usage!;
    tokens.prompt += streamUsage.prompt_tokens;
    tokens.completion += streamUsage.completion_tokens;
    expect((await chat(g.url, "sk-tg-wrong", { model: "grok-4", messages: user() })).status).toBe(401);
    expect((await chat(g.url, customer.key, { model: "no-such-model", messages: user() })).status).toBe(404);
    const failed = await chat(g.url, customer.key, { model: "grok-4", messages: user(), mock: { status: 500 } });
    expect(failed.status).toBeGreaterThanOrEqual(500);

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
    expect(delta("tollgate_chat_responses_total", { status: "200" })).toBe(2);
    expect(delta("tollgate_chat_responses_total", { status: "401" })).toBe(1);
    expect(delta("tollgate_chat_responses_total", { status: "404" })).toBe(1);
    expect(delta("tollgate_chat_responses_total", { status: String(failed.status) })).toBe(1);
    expect(delta("tollgate_chat_requests_total", { model: "grok-4", stream: "false", status: "200" })).toBe(1);
    expect(delta("tollgate_chat_requests_total", { model: "grok-4", stream: "true", status: "200" })).toBe(1);
    // The failed attempt was metered (released, nothing charged); the refusals never were.
    expect(delta("tollgate_chat_requests_total")).toBe(3);
    expect(delta("tollgate_tokens_total", { model: "grok-4", type: "prompt" })).toBe(tokens.prompt);
    expect(delta("tollgate_tokens_total", { model: "grok-4", type: "completion" })).toBe(tokens.completion);

    // Credit charged equals what left the balance (the ledger), to the micro.
    const account = await g.account(customer.accountId);
    expect(value(after, "tollgate_charged_micros_total", { model: "grok-4" })).toBe(CREDITS - account.balance_micros);
    expect(value(after, "tollgate_account_balance_micros")).toBe(account.balance_micros);

    // Histograms: one observation per metered request, cumulative buckets ending at +Inf.
    const plainCount = value(after, "tollgate_chat_duration_seconds_count", { model: "grok-4", stream: "false" });
    expect(plainCount).toBe(value(after, "tollgate_chat_requests_total", { model: "grok-4", stream: "false" }));
    const buckets = after.filter((s) => s.name === "tollgate_chat_duration_seconds_bucket" && s.labels.stream === "false");
    expect(buckets.at(-1)!.labels.le).toBe("+Inf");
    expect(buckets.at(-1)!.value).toBe(plainCount);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(value(after, "tollgate_time_to_first_token_seconds_count", { model: "grok-4" })).toBe(1);

    // Gauges read at scrape time.
    expect(value(after, "tollgate_chat_in_flight")).toBe(0);
    expect(value(after, "tollgate_upstream_attempts_total", { upstream: "fake#1" })).toBeGreaterThanOrEqual(3);
    expect(value(after, "tollgate_upstream_breaker_state", { upstream: "fake#1" })).toBe(0);
    expect(value(after, "process_resident_memory_bytes")).toBeGreaterThan(1_000_000);
    // When the process started, not when this module (loaded with the first admin request) was.
    const started = value(after, "process_start_time_seconds");
    expect(Math.abs(started - performance.timeOrigin / 1000)).toBeLessThan(0.02);
  });
});
