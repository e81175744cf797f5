/**
 * The log never shows a secret a client put in a path, however the URL spells it, nor a client's
 * raw control characters. Upstream keys: the configured ones whatever their shape (a Groq-style
 * `gsk_…` of a second provider) and anything xAI- or OpenAI-shaped, also percent-escaped
 * (`xai%2D…`). Text lines: a path carrying ESC or BEL (decoded once a key-shaped part made the
 * redactor decode it) is quoted and escaped, as JSON lines always were.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { loadConfig } from "../src/config/load";
import { createLog } from "../src/lib/log";
import { buildRuntime, startServer } from "../src/runtime/server";
import { ADMIN_TOKEN } from "./support/gateway";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startLogged, type LoggedGateway } from "./support/logged-gateway";

setDefaultTimeout(30_000);

describe("upstream keys in a path", () => {
  const XAI_KEY = `xai-${"Q7wZ".repeat(20)}`;
  const GROQ_KEY = `gsk_${"R8vY".repeat(13)}`;
  let up: MockUpstream;
  let gw: LoggedGateway;
  beforeAll(async () => {
    up = startFakeUpstream();
    const cat = fakeCatalogue(up.url);
    cat.providers = [{ ...cat.providers[0]!, api_key: XAI_KEY }, { id: "groq", base_url: up.url, kind: "openai", api_key: GROQ_KEY } as never];
    gw = await startLogged({ ...cat }, { upstream: up });
  });
  afterAll(async () => {
    await gw?.stop();
    await up?.stop();
  });
  const paths = () => gw.lines().filter((l) => l.msg === "request").map((l) => String(l.path));

  test("typed plainly, percent-escaped, or of a configured provider's own shape", async () => {
    for (const path of [`/v1/models/${XAI_KEY}`, `/v1/models/xai%2D${XAI_KEY.slice(4)}`, `/admin/keys/${GROQ_KEY}`, `/v1/models/${GROQ_KEY.replace("_", "%5F")}`]) {
      await (await fetch(`${gw.url}${path}`)).text();
    }
    await Bun.sleep(50);
    expect(paths()).toEqual(expect.arrayContaining(["/v1/models/[redacted]", "/admin/keys/[redacted]"]));
    expect(gw.out()).not.toContain(XAI_KEY.slice(4, 40));
    expect(gw.out()).not.toContain(GROQ_KEY.slice(4));
  });
});

describe("text lines", () => {
  let text = "";
  const log = createLog("text", (t) => void (text += t));
  const cfg = loadConfig({ env: {}, overrides: { db_path: ":memory:", admin_token: ADMIN_TOKEN, ...fakeCatalogue("http://127.0.0.1:9/v1"), ...SINGLE_SHOT, log_format: "text" } });
  const runtime = buildRuntime(cfg, { log });
  let server: ReturnType<typeof startServer>;
  beforeAll(() => {
    server = startServer(runtime, { port: 0, hostname: "127.0.0.1" });
  });
  afterAll(async () => {
    await server?.stop();
    runtime.deps.store.close();
  });

  test("no raw control character from a client's path reaches a line", async () => {
    // Merely key-shaped (no such key): the redactor decodes the whole path.
    const res = await fetch(`${server.url}/v1/models/sk-tg-AAAAAAAAAAAA%1B%5B2J%1B%5B1;31mFORGED%07`);
    await res.text();
    await Bun.sleep(50);
    log.flush();
    const line = text.split("\n").find((l) => l.includes(res.headers.get("x-request-id")!))!;
    expect(line).toContain("path=/v1/models/[redacted]%1B[2J");
    expect(line).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
  });
});

describe("C1 control characters (U+0080 to U+009F: CSI starts a terminal escape, NEL breaks a line)", () => {
  const stops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const stop of stops) await stop();
  });
  test.each(["text", "json"] as const)("%s: none from a client's path reaches a line raw", async (format) => {
    let text = "";
    const log = createLog(format, (t) => void (text += t));
    const runtime = buildRuntime(loadConfig({ env: {}, overrides: { db_path: ":memory:", admin_token: ADMIN_TOKEN, log_format: format } }), { log });
    const server = startServer(runtime, { port: 0, hostname: "127.0.0.1" });
    stops.push(async () => {
      await server.stop();
      runtime.deps.store.close();
    });
    const res = await fetch(`${server.url}/v1/models/sk-tg-AAAAAAAAAAAA%C2%9B2J%C2%9B1;31mFORGED%C2%85status=200`);
    await res.text();
    await Bun.sleep(50);
    log.flush();
    const line = text.split("\n").find((l) => l.includes(res.headers.get("x-request-id")!))!;
    expect(line).toContain("FORGED");
    expect(line).not.toMatch(/[\u0080-\u009f\u2028\u2029]/);
  });
});
