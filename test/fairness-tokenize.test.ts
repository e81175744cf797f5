/**
 * POST /v1/tokenize-text is free, so a key with no credit may call it, and the tokenizer answers
 * an object per token, some 30 times the text. What keeps one customer from degrading everyone
 * else's service with it: its text is bounded (MAX_TOKENIZE_TEXT_BYTES: a 4 MiB text is a 400),
 * its answer is passed on as read (never parsed and serialised again on the event loop), and its
 * text's estimate is taken from the key's tokens per minute like any request's prompt.
 *
 * Layout: the gateway in this process; the upstreams (the project's mock, which answers as xAI
 * does) and the abusive clients (curl) in subprocesses, so that only the gateway's own work runs
 * on this event loop. Another customer's small chat completions are timed before and during; they
 * go to a second mock process (model grok-3), since the tokenizer's mock is itself busy building
 * its answers, as the real upstream's would be, and that is not the gateway's doing.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { fakeCatalogue, SINGLE_SHOT } from "./support/fake-upstream";
import { startGateway, type Gateway } from "./support/gateway";

setDefaultTimeout(90_000);
/** The longest text tokenized (UTF-8 bytes), as docs/configuration.md (Limits) documents it. */
const MAX_TOKENIZE_TEXT_BYTES = 1024 * 1024;
const ROOT = resolve(import.meta.dir, "..");

const upstreams: Subprocess<"ignore", "pipe", "inherit">[] = [];
let gw: Gateway;
const dir = mkdtempSync(join(tmpdir(), "fair-tok-"));

/** The mock upstream in a process of its own: its URL. */
async function mockProcess(): Promise<string> {
  const script = 'import { startMockUpstream } from "./src/demo/mock-upstream"; console.log(startMockUpstream().url);';
  const p = Bun.spawn(["bun", "-e", script], { cwd: ROOT, stdout: "pipe", stderr: "inherit", stdin: "ignore" });
  upstreams.push(p);
  const reader = p.stdout.getReader();
  let text = "";
  while (!/http:\S+\n/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
  return /(http:\S+)/.exec(text)![1]!;
}

beforeAll(async () => {
  const [tokenizer, chat] = [fakeCatalogue(await mockProcess()), fakeCatalogue(await mockProcess())];
  const providers = [tokenizer.providers[0]!, { ...chat.providers[0]!, id: "chat" }];
  const models = [tokenizer.models.find((m) => m.id === "grok-4")!, { ...tokenizer.models.find((m) => m.id === "grok-3")!, provider: "chat" }];
  gw = await startGateway({ config: { providers, models, ...SINGLE_SHOT } });
});
afterAll(async () => {
  await gw?.stop();
  for (const p of upstreams) p.kill();
  rmSync(dir, { recursive: true, force: true });
});

const SMALL = JSON.stringify({ model: "grok-3", messages: [{ role: "user", content: "hi" }], max_tokens: 5 });
async function timedChat(key: string): Promise<number> {
  const t = performance.now();
  const r = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: SMALL });
  await r.text();
  expect(r.status).toBe(200);
  return performance.now() - t;
}

/** A tokenize body in a file (curl sends it), its text of two-byte words: one token each. */
function bodyFile(name: string, textBytes: number): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ model: "grok-4", text: "x ".repeat(Math.floor(textBytes / 2)) }));
  return file;
}

const curl = (key: string, file: string) =>
  Bun.spawn(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "-H", `authorization: Bearer ${key}`, "-H", "content-type: application/json", "--data-binary", `@${file}`, `${gw.url}/v1/tokenize-text`], { stdout: "pipe", stderr: "inherit" });

test("$0 customers' tokenize calls, the largest text answered and 4 MiB refused, neither stall another customer nor balloon the gateway's memory", async () => {
  // Two accounts with no credit at all (tokenize is free): each its own tokens per minute.
  const [largest, oversized] = [await gw.customer(0), await gw.customer(0)];
  const other = await gw.customer(10_000_000);

  const baseline: number[] = [];
  for (let i = 0; i < 15; i++) baseline.push(await timedChat(other.key));
  const baseWorst = Math.max(...baseline.slice(3)); // the first few warm the paths up
  Bun.gc(true);
  const rssBefore = process.memoryUsage().rss;

  const big = bodyFile("largest.json", MAX_TOKENIZE_TEXT_BYTES - 2);
  const huge = bodyFile("huge.json", 4 * 1024 * 1024 - 100);
  const curls = [curl(largest.key, big), curl(largest.key, big), curl(oversized.key, huge), curl(oversized.key, huge)];
  let done = false;
  const results = Promise.all(curls.map(async (c) => (await new Response(c.stdout).text()).trim())).then((r) => ((done = true), r));

  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
  const during: number[] = [];
  const deadline = performance.now() + 40_000;
  while (!done && performance.now() < deadline) {
    during.push(await timedChat(other.key));
    await Bun.sleep(10);
  }
  clearInterval(sampler);
  const answered = (await results).map((r) => r.split(" ").map(Number));
  const duringWorst = Math.max(...during);
  const grownMB = Math.round((rssPeak - rssBefore) / 1e6);
  console.log({ answered, baseWorstMs: Math.round(baseWorst), duringWorstMs: Math.round(duringWorst), samples: during.length, rssGrownMB: grownMB });

  // The largest text allowed is answered whole (an object per token: tens of MB), a longer one is a
  // 400; one read after another's refusal finds the key's tokens in debt (its bytes cost them), a 429.
  const statuses = answered.map(([status]) => status);
  const refusedTwo = statuses.slice(2).sort();
  expect(statuses.slice(0, 2)).toEqual([200, 200]);
  expect(refusedTwo[0]).toBe(400);
  expect([400, 429]).toContain(refusedTwo[1]!);
  expect(answered[0]![1]).toBeGreaterThan(15 * MAX_TOKENIZE_TEXT_BYTES);
  // Another customer's worst request may be 20 times its worst baseline (at least a second: a
  // loaded machine's CI reached a third of one): an event loop busy parsing and serialising the
  // abusers' answers showed as seconds.
  expect(duringWorst).toBeLessThan(Math.max(20 * baseWorst, 1_000));
  expect(grownMB).toBeLessThan(270);
});

test("tokenize's text is taken from the key's tokens per minute, with no credit too", async () => {
  const c = await gw.customer(0);
  expect((await gw.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { tpm: 1000 } })).status).toBe(200);
  const tokenize = () =>
    fetch(`${gw.url}/v1/tokenize-text`, { method: "POST", headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" }, body: JSON.stringify({ model: "grok-4", text: "abcd".repeat(600) }) });
  const first = await tokenize();
  expect(first.status).toBe(200);
  expect(((await first.json()) as { token_ids: unknown[] }).token_ids.length).toBe(1);
  // 600 tokens estimated (four bytes a token) and kept: 400 left of 1000.
  expect(first.headers.get("x-ratelimit-remaining-tokens")).toBe("400");
  const second = await tokenize();
  expect(second.status).toBe(429);
  expect(((await second.json()) as { error: { type: string } }).error.type).toBe("tokens");
  expect(await gw.balance(c.accountId)).toBe(0);
});
