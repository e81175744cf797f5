import { loadConfig, type Config } from "../../src/config/load";
import { buildRuntime, startServer, type Runtime } from "../../src/runtime/server";

export const ADMIN_TOKEN = "test-admin-token-0123456789";

export interface TestServer {
  url: string;
  runtime: Runtime;
  config: Config;
  /** fetch against the server with the admin token. */
  admin(path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  /** Creates an account with `credits` micros and a key; returns both ids and the key. */
  customer(credits?: number, keyBody?: Record<string, unknown>): Promise<{ accountId: string; keyId: string; key: string }>;
  stop(): Promise<void>;
}

/** A real server on 127.0.0.1 with a fresh in-memory (or given) database. */
export async function startTestServer(
  overrides: Record<string, unknown> = {},
  env: Record<string, string> = {},
): Promise<TestServer> {
  const config = loadConfig({ env, overrides: { db_path: ":memory:", admin_token: ADMIN_TOKEN, log_format: "off", ...overrides } });
  const runtime = buildRuntime(config);
  const server = startServer(runtime, { port: 0, hostname: "127.0.0.1" });
  const admin: TestServer["admin"] = (path, init = {}) =>
    fetch(server.url + path, {
      method: init.method ?? (init.body === undefined ? "GET" : "POST"),
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", ...init.headers },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  return {
    url: server.url,
    runtime,
    config,
    admin,
    async customer(credits = 10_000_000, keyBody = {}) {
      const acc = (await (await admin("/admin/accounts", { body: { name: "Test customer" } })).json()) as { id: string };
      if (credits) await admin(`/admin/accounts/${acc.id}/credits`, { body: { amount_micros: credits } });
      const key = (await (await admin(`/admin/accounts/${acc.id}/keys`, { body: keyBody })).json()) as { id: string; key: string };
      return { accountId: acc.id, keyId: key.id, key: key.key };
    },
    async stop() {
      await server.stop();
      runtime.deps.store.sqlite.close();
    },
  };
}
