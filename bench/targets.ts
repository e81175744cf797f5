/** The systems under test, each started pinned to the server CPU and pointed at the fake upstream. */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { APIS, MODEL, type BenchApi } from "./answers";
import { processTree, spawnPinned, stop, waitForHttp, waitForLine } from "./proc";

export type TargetId = "direct" | "bare" | "floor" | "floor-extras" | "floor-money" | "tollgate" | "nginx" | "portkey";

export interface Target {
  id: TargetId;
  label: string;
  url: string;
  headers: Record<string, string>;
  /** Pids whose CPU and memory count for this target. */
  pids(): number[];
  stop(): Promise<void>;
  /** Extra facts shown in the report (rate-limit headers seen, ...). */
  facts: Record<string, string>;
}

export const CHAT_PATH = APIS.chat.path;
export const BODY = APIS.chat.body;
export const STREAM_BODY = APIS.chat.streamBody;
export const ADMIN_TOKEN = "bench-admin-token-0123456789abcdef";
const UPSTREAM_KEY = "sk-upstream-bench";

export interface Upstream {
  url: string;
  port: number;
  pids(): number[];
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** Headers of a JSON request with a bearer key (a customer key for Tollgate, the upstream key for the rest). */
export const jsonHeaders = (auth: string) => ({ "content-type": "application/json", authorization: `Bearer ${auth}` });

function processTarget(id: TargetId, label: string, p: Subprocess, url: string, headers: Record<string, string>, facts: Record<string, string> = {}): Target {
  return { id, label, url, headers, facts, pids: () => processTree(p.pid), stop: () => stop(p) };
}

export async function startUpstream(root: string, bin: string | null, cpu: string, log: string): Promise<Upstream> {
  const cmd = bin ? [bin, "0"] : ["bun", join(root, "bench/upstream.ts")];
  const p = spawnPinned(cmd, { cpu, env: { PORT: "0" }, log });
  const port = Number((await waitForLine(p, /ready (\d+)/))[1]);
  return { url: `http://127.0.0.1:${port}`, port, pids: () => [p.pid], stop: () => stop(p) };
}

export function directTarget(up: Upstream): Target {
  return { id: "direct", label: "upstream (direct)", url: up.url, headers: jsonHeaders(UPSTREAM_KEY), facts: {}, pids: up.pids, stop: async () => {} };
}

export async function startBare(root: string, up: Upstream, cpu: string, log: string): Promise<Target> {
  const p = spawnPinned(["bun", join(root, "bench/bare-proxy.ts")], { cpu, env: { PORT: "0", UPSTREAM: up.url }, log });
  const port = Number((await waitForLine(p, /ready (\d+)/))[1]);
  return processTarget("bare", "bare Bun proxy", p, `http://127.0.0.1:${port}`, jsonHeaders(UPSTREAM_KEY));
}

/** bench/json-proxy.ts: the bare proxy plus parsing the request and the answer (metering's floor). */
export async function startJsonFloor(root: string, up: Upstream, cpu: string, log: string, extras = false): Promise<Target> {
  const p = spawnPinned(["bun", join(root, "bench/json-proxy.ts")], { cpu, env: { PORT: "0", UPSTREAM: up.url, EXTRAS: extras ? "1" : "0" }, log });
  const port = Number((await waitForLine(p, /ready (\d+)/))[1]);
  const [id, label] = extras ? (["floor-extras", "metering floor + signal, timer, headers"] as const) : (["floor", "metering floor (parse only)"] as const);
  return processTarget(id, label, p, `http://127.0.0.1:${port}`, jsonHeaders(UPSTREAM_KEY));
}

/** bench/json-proxy.ts with MONEY=1: the metering floor with extras plus the least the money rules need (bench/money-floor.ts). */
export async function startMoneyFloor(root: string, dir: string, up: Upstream, cpu: string, log: string): Promise<Target> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const key = "sk-money-floor-bench";
  const p = spawnPinned(["bun", join(root, "bench/json-proxy.ts")], { cpu, env: { PORT: "0", UPSTREAM: up.url, MONEY: "1", DIR: dir, KEY: key }, log });
  const port = Number((await waitForLine(p, /ready (\d+)/))[1]);
  return processTarget("floor-money", "money floor (+ the money rules)", p, `http://127.0.0.1:${port}`, jsonHeaders(key));
}

export async function startNginx(nginx: string, dir: string, up: Upstream, cpu: string, log: string): Promise<Target> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `${t}_temp_path ${dir}/${t};`).join(" ");
  // One worker: like the Bun targets, nginx gets one core. Upstream keep-alive and no buffering
  // (streams pass event by event), as a production config for an LLM API would have.
  writeFileSync(
    join(dir, "nginx.conf"),
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  ${temp}
  upstream llm { server 127.0.0.1:${up.port}; keepalive 128; }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://llm;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering on;
    }
  }
}
`,
  );
  const p = spawnPinned([nginx, "-e", "stderr", "-p", dir, "-c", join(dir, "nginx.conf")], { cpu, log });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(url);
  return processTarget("nginx", "nginx (native reference)", p, url, jsonHeaders(UPSTREAM_KEY));
}

export async function startPortkey(script: string, up: Upstream, cpu: string, log: string): Promise<Target> {
  const port = await freePort();
  const p = spawnPinned(["bun", script, `--port=${port}`, "--headless"], { cpu, env: { NODE_ENV: "production" }, log });
  await waitForLine(p, /Ready for connections/, 30_000);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(url);
  return processTarget("portkey", "Portkey gateway on Bun", p, url, {
    ...jsonHeaders(UPSTREAM_KEY),
    "x-portkey-provider": "openai",
    "x-portkey-custom-host": `${up.url}/v1`,
  });
}

/** Config of the benchmarked Tollgate: one OpenAI-compatible provider, a plan that never throttles. */
export function tollgateConfig(up: Upstream) {
  return {
    providers: [{ id: "bench", base_url: `${up.url}/v1`, kind: "openai", api_key: UPSTREAM_KEY }],
    models: [{ id: MODEL, provider: "bench", input_price: 1, output_price: 2, max_output_tokens: 4096 }],
    // Rate limits stay on (every request is admitted through the buckets), far above the load but
    // within exact integer range (the token bucket counts rpm and tpm x 60,000 units).
    plans: { bench: { rpm: 100_000_000, tpm: 10_000_000_000, concurrency: 100_000 } },
  };
}

export interface TollgateSetup {
  dir: string;
  configPath: string;
  dbPath: string;
  env: Record<string, string>;
}

export function prepareTollgate(dir: string, up: Upstream): TollgateSetup {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const configPath = join(dir, "tollgate.json");
  writeFileSync(configPath, JSON.stringify(tollgateConfig(up), null, 2));
  const dbPath = join(dir, "tollgate.db");
  return { dir, configPath, dbPath, env: { HOST: "127.0.0.1", TOLLGATE_DB: dbPath, TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } };
}

/**
 * `serve` of the binary (`cmd` its path) or from source (`cmd` = bun [flags] src/index.ts) on a
 * free port; `env` adds to or overrides the setup's (a setting, another database).
 */
export async function startTollgate(cmd: string | string[], setup: TollgateSetup, cpu: string, log: string, env: Record<string, string> = {}): Promise<{ target: Target; proc: Subprocess; port: number }> {
  const p = spawnPinned([cmd].flat().concat("serve", "--config", setup.configPath), { cpu, env: { ...setup.env, PORT: "0", ...env }, log });
  const m = await waitForLine(p, /listening on http:\/\/[^:]+:(\d+)/);
  const actual = Number(m[1]);
  const target = processTarget("tollgate", "Tollgate (all features on)", p, `http://127.0.0.1:${actual}`, {});
  return { target, proc: p, port: actual };
}

/** Creates the benchmark account (plan "bench", ample credit) and its key; returns the key. */
export async function provision(url: string): Promise<{ key: string; accountId: string }> {
  const admin = async (path: string, body: unknown) => {
    const res = await fetch(url + path, { method: "POST", headers: jsonHeaders(ADMIN_TOKEN), body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const acc = await admin("/admin/accounts", { name: "bench", plan: "bench" });
  await admin(`/admin/accounts/${acc.id}/credits`, { amount_micros: 1_000_000_000_000, note: "benchmark credit" });
  const key = await admin(`/admin/accounts/${acc.id}/keys`, { name: "bench" });
  return { key: String(key.key), accountId: String(acc.id) };
}

export async function accountBalance(url: string, accountId: string): Promise<number> {
  const res = await fetch(`${url}/admin/accounts/${accountId}`, { headers: jsonHeaders(ADMIN_TOKEN) });
  return ((await res.json()) as { balance_micros: number }).balance_micros;
}

/** One request of each kind must succeed before anything is measured. */
export async function smokeCheck(t: Target, api: BenchApi = APIS.chat): Promise<Record<string, string>> {
  const headers = { ...t.headers, ...api.headers };
  const res = await fetch(t.url + api.path, { method: "POST", headers, body: api.body });
  const text = await res.text();
  if (res.status !== 200 || !text.includes(api.marks.whole)) throw new Error(`${t.label}: non-streaming ${api.label} check got ${res.status}: ${text.slice(0, 300)}`);
  const sres = await fetch(t.url + api.path, { method: "POST", headers, body: api.streamBody });
  const stext = await sres.text();
  const events = stext.split("\n\n").filter((e) => /^(event|data): /.test(e)).length;
  if (sres.status !== 200 || !stext.includes(api.marks.stream)) throw new Error(`${t.label}: streaming ${api.label} check got ${sres.status}: ${stext.slice(0, 300)}`);
  const facts: Record<string, string> = { "stream events per response": String(events) };
  const limit = res.headers.get("x-ratelimit-limit-requests");
  if (t.id === "tollgate") facts["x-ratelimit-limit-requests"] = limit ?? "(absent: limiter not wired)";
  return facts;
}

/** The fake upstream answers exactly bench/answers.ts's bytes for every API (the C one builds its own). */
export async function checkUpstream(up: Upstream): Promise<void> {
  for (const api of Object.values(APIS)) {
    const whole = await (await fetch(up.url + api.path, { method: "POST", body: api.body })).text();
    const stream = await (await fetch(up.url + api.path, { method: "POST", body: api.streamBody })).text();
    if (whole !== api.answer || stream !== api.events.join("")) throw new Error(`the fake upstream's ${api.label} answer differs from bench/answers.ts`);
  }
}
