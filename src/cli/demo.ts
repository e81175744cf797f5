import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config } from "../config/load";
import { defaultModels } from "../config/catalogue";
import { resolveModel } from "../config/load";
import { startMockUpstream, type MockModelPrices, type MockUpstream } from "../demo/mock-upstream";
import { eventData, SseSplitter } from "../gateway/sse";
import { microsToUsd } from "../money/units";
import { createAccount, listAccounts, type AccountRow } from "../modules/accounts/service";
import { createKey } from "../modules/keys/service";
import { postCredit } from "../money/ledger";
import { checkListen, localOrigin } from "../runtime/listen-address";
import { buildRuntime, startServer, type RunningServer } from "../runtime/server";
import { createInvite } from "../identity/logins/service";
import type { Runtime, SqliteRuntime } from "../runtime/runtime";
import type { Store } from "../store/store";
import { positionals, type CliContext, type LeafCommand } from "./command";

const DEMO_CREDITS = 5_000_000;
const DEMO_EMAIL = "demo@example.com";
const DEMO_NAME = "Demo customer";

/** The demo configuration: the default catalogue and prices, served by the built-in MOCK upstream. */
function demoConfig(base: Config, mockUrl: string, dbPath: string): Config {
  return {
    ...base,
    db_path: dbPath,
    providers: [{ id: "mock", kind: "openai", base_url: mockUrl, headers: {}, api_key: "mock-upstream-key" }],
    models: defaultModels().map((m) => resolveModel({ ...m, provider: "mock" })),
  };
}

/** What the mock upstream bills per model: the catalogue's list prices, as xAI bills them (no markup: no loss). */
function catalogueCosts(): Record<string, MockModelPrices> {
  const costs: Record<string, MockModelPrices> = {};
  for (const m of defaultModels()) {
    const r = resolveModel({ ...m, provider: "mock" });
    // The catalogue's prices are micros (per 1M tokens, per image); the mock's are USD.
    costs[r.upstream_model] ??= { input: r.input_price / 1e6, cached_input: r.cached_input_price / 1e6, output: r.output_price / 1e6, image: r.image_price / 1e6 };
  }
  return costs;
}

/**
 * Where the portal and the console are and how to sign in to each: a one-time invite link for the
 * demo customer (as `tollgate accounts invite` prints), and the admin token for the console.
 */
async function dashboardLines(runtime: Runtime, accountId: string, origin: string): Promise<string[]> {
  const invite = await createInvite(runtime.deps.store, { accountId, email: DEMO_EMAIL, ttlMs: 24 * 3_600_000, actor: "demo", baseUrl: origin });
  const token = runtime.generatedAdminToken;
  return [
    `portal         ${origin}/portal`,
    `  sign in as the demo customer (one-time link, choose a password): ${invite.url}`,
    `console        ${origin}/console`,
    token ? `  sign in with the admin token: ${token}` : "  sign in with your admin token (admin_token / TOLLGATE_ADMIN_TOKEN)",
  ];
}

/** A streamed completion through the gateway, its text gathered as it arrives. */
export async function firstCompletion(base: string, key: string): Promise<string> {
  const res = await fetch(`${base}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "grok-4.3", stream: true, messages: [{ role: "user", content: "Say hello to the new operator." }] }),
  });
  let text = "";
  // Whole events, however the bytes are cut: a line split across reads is never parsed half.
  const events = new SseSplitter();
  for await (const chunk of res.body!) {
    for (const event of events.push(chunk)) {
      const data = eventData(event);
      if (!data?.startsWith("{")) continue;
      text += (JSON.parse(data) as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta?.content ?? "";
    }
  }
  return text;
}

/** What the demo has started so far: all of it is stopped on an error during its start, or on a signal. */
interface Started {
  mock: MockUpstream;
  runtime?: SqliteRuntime;
  server?: RunningServer;
}

/**
 * Stops what was started, each part even when stopping another failed: a listener left open would
 * keep the process alive. Without a server the runtime's journal is closed here (the server's stop
 * closes it otherwise). The log is flushed last, as serve does: the process exits next, and the
 * lines of requests that finished while stopping are still in its buffer.
 */
async function stopDemo(s: Started): Promise<void> {
  const steps = [
    () => (s.server ? s.server.stop() : s.runtime?.journal?.close()),
    () => s.mock.stop(),
    () => s.runtime?.deps.store.close(),
    () => s.runtime?.deps.log.flush(),
  ];
  for (const step of steps) await Promise.resolve().then(step).catch(() => undefined);
}

interface Demo {
  runtime: SqliteRuntime;
  server: RunningServer;
  dbPath: string;
  accountId: string;
  key: string;
  origin: string;
}

/**
 * The demo customer: the one a `--db` of an earlier demo has (its ledger kept, and its owner's
 * address with it: a second account could not be invited under that address), or a new one with
 * the demo credits.
 */
async function demoAccount(store: Store): Promise<AccountRow> {
  const found = await listAccounts(store, { limit: 20, offset: 0, q: DEMO_EMAIL });
  const earlier = found.find((a) => a.email === DEMO_EMAIL && a.name === DEMO_NAME && a.status === "active");
  if (earlier) return earlier;
  const account = await createAccount(store, { name: DEMO_NAME, email: DEMO_EMAIL }, "demo");
  await postCredit(store, { accountId: account.id, amountMicros: DEMO_CREDITS, note: "demo credits", actor: "demo", heldMicros: 0 });
  return account;
}

/** The gateway in front of the mock upstream, with a demo account, its credits and a key; listening. */
async function startDemo(ctx: CliContext, started: Started): Promise<Demo> {
  const dbPath = ctx.flags.db ?? join(mkdtempSync(join(tmpdir(), "tollgate-demo-")), "demo.db");
  const config = demoConfig(ctx.config(), started.mock.url, dbPath);
  const runtime = (started.runtime = buildRuntime(config));
  const { store } = runtime.deps;
  const account = await demoAccount(store);
  const { key } = await createKey(store, config.key_prefix, account.id, { name: "demo key" }, "demo");
  const server = (started.server = startServer(runtime));
  // What the demo calls and prints: a wildcard address (0.0.0.0, ::) is reached on loopback.
  const origin = localOrigin(config.host, server.port);
  return { runtime, server, dbPath, accountId: account.id, key, origin };
}

/** The banner: where everything is, how to sign in, and how to call the API. */
async function printBanner(out: (line: string) => void, demo: Demo): Promise<void> {
  const { runtime, key, origin } = demo;
  const base = `${origin}/v1`;
  const rule = "=".repeat(78);
  out(rule);
  out("Tollgate DEMO MODE: completions come from a built-in MOCK upstream (canned text, no real");
  out("model, no network). Billing, keys, limits and the API are the real ones.");
  out(rule);
  out(`gateway        ${base}`);
  out(`database       ${demo.dbPath}`);
  if (runtime.generatedAdminToken) out(`admin token    ${runtime.generatedAdminToken}`);
  out(`demo account   ${demo.accountId} with ${microsToUsd(runtime.deps.credits.balance(demo.accountId).balance)} USD of credits`);
  out(`demo API key   ${key}`);
  out(`API docs       ${origin}/swagger`);
  for (const line of await dashboardLines(runtime, demo.accountId, origin)) out(line);
  out("");
  out("Stream a completion with curl:");
  out(`  curl -N ${base}/chat/completions -H "Authorization: Bearer ${key}" \\`);
  out(`    -H "Content-Type: application/json" \\`);
  out(`    -d '{"model":"grok-4.3","stream":true,"messages":[{"role":"user","content":"Hello!"}]}'`);
  out("Check the balance:");
  out(`  curl ${base}/me -H "Authorization: Bearer ${key}"`);
  out("Or with the OpenAI SDK (Python):");
  out(`  from openai import OpenAI`);
  out(`  client = OpenAI(base_url="${base}", api_key="${key}")`);
  out(`  for chunk in client.chat.completions.create(model="grok-4.3", stream=True,`);
  out(`          messages=[{"role": "user", "content": "Hello!"}]):`);
  out(`      print(chunk.choices[0].delta.content or "", end="") if chunk.choices else None`);
  out("");
}

/** A first streamed request, so the newcomer sees text arrive and the balance go down. */
async function showFirstCompletion(out: (line: string) => void, demo: Demo): Promise<void> {
  const { credits } = demo.runtime.deps;
  const before = credits.balance(demo.accountId).balance;
  const text = await firstCompletion(`${demo.origin}/v1`, demo.key);
  const after = credits.balance(demo.accountId).balance;
  out(`First streamed completion (mock): ${text}`);
  out(`Charged ${microsToUsd(before - after)} USD: balance ${microsToUsd(before)} → ${microsToUsd(after)} USD.`);
}

export const demoCommand: LeafCommand = {
  summary: "Start the gateway with a built-in MOCK upstream, a demo account with credits and a key (offline)",
  examples: ["tollgate demo", "PORT=9000 tollgate demo", "tollgate demo --db ./data/demo.db"],
  async run(ctx, parsed) {
    // `demo ./demo.db` (--db forgotten) would otherwise run on a fresh database and keep nothing there.
    positionals(parsed, this, "demo");
    // Before the mock upstream starts: it would keep the process alive after the error.
    await checkListen(ctx.config().host, ctx.config().port);
    const started: Started = { mock: startMockUpstream({ defaults: { completion_tokens: 24, chunk_delay_ms: 60, prices: catalogueCosts() } }) };
    let demo: Demo;
    try {
      demo = await startDemo(ctx, started);
      await printBanner(ctx.stdout, demo);
      await showFirstCompletion(ctx.stdout, demo);
    } catch (e) {
      // Left running, the mock upstream and the server would keep the process alive after the
      // error: stopped first, the error then reported (and its exit code chosen) like any other.
      await stopDemo(started);
      throw e;
    }
    ctx.stdout(`tollgate listening on ${demo.server.url} (Ctrl-C to stop)`);

    const stop = async () => {
      await stopDemo(started);
      process.exit(0);
    };
    process.once("SIGINT", () => void stop());
    process.once("SIGTERM", () => void stop());
  },
};
