import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadConfig } from "../src/config/load";
import { ENV_MAP } from "../src/config/env-map";
import { configError } from "./support/config-error";

const dir = mkdtempSync("/tmp/tollgate-config-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = `${dir}/${name}`;
  writeFileSync(path, text);
  return path;
}

describe("defaults", () => {
  test("an empty configuration is valid and documented defaults apply", () => {
    const c = loadConfig({ env: {} });
    expect(c).toMatchObject({
      port: 8080,
      host: "0.0.0.0",
      db_path: "./data/tollgate.db",
      key_prefix: "sk-tg-",
      xai_base_url: "https://api.x.ai/v1",
      hold_ttl_seconds: 900,
      max_body_bytes: 4 * 1024 * 1024,
      usage_retention_days: 90,
    });
    expect(c.admin_token).toBeUndefined();
    expect(c.xai_api_key).toBeUndefined();
  });

  test("loadConfig() reads nothing from process.env unless given it", () => {
    const before = process.env.PORT;
    process.env.PORT = "1234";
    try {
      expect(loadConfig().port).toBe(8080);
      expect(loadConfig({ env: process.env }).port).toBe(1234);
    } finally {
      if (before === undefined) delete process.env.PORT;
      else process.env.PORT = before;
    }
  });

  test("the default model catalogue is xAI's current Grok models at list prices, in micros per token", () => {
    const c = loadConfig({ env: { XAI_API_KEY: "xai-test" } });
    expect(c.providers.map((p) => p.id)).toEqual(["xai"]);
    expect(c.providers[0]).toMatchObject({ base_url: "https://api.x.ai/v1", api_key: "xai-test" });
    const byId = new Map(c.models.map((m) => [m.id, m]));
    const grok43 = { provider: "xai", upstream_model: "grok-4.3", input_price: 1_250_000, cached_input_price: 200_000, output_price: 2_500_000 };
    expect(byId.get("grok-4.3")).toMatchObject({
      ...grok43,
      reasoning_allowance_tokens: 4096,
      long_context: { above_tokens: 199_999, input_price: 2_500_000, cached_input_price: 400_000, output_price: 5_000_000 },
    });
    // Retired ids xAI still serves (as grok-4.3) stay usable: aliases at grok-4.3's prices.
    expect(byId.get("grok-4")).toMatchObject(grok43);
    expect(byId.get("grok-3")).toMatchObject(grok43);
    expect(byId.get("grok-4.20-0309-non-reasoning")).toMatchObject({ reasoning_allowance_tokens: 0 });
    expect(byId.get("grok-imagine-image")).toMatchObject({ kind: "image", image_price: 20_000 });
    for (const m of c.models) {
      expect(Number.isSafeInteger(m.input_price)).toBe(true);
      expect(Number.isSafeInteger(m.output_price)).toBe(true);
      expect(m.kind === "image" ? m.image_price > 0 : m.input_price > 0 && m.output_price > 0).toBe(true);
    }
  });
});

describe("sources", () => {
  test("JSON file, TOML file, env over file, overrides over env", () => {
    const json = file("c.json", JSON.stringify({ port: 9001, host: "127.0.0.1", hold_ttl_seconds: 700, key_prefix: "tg_" }));
    expect(loadConfig({ file: json })).toMatchObject({ port: 9001, host: "127.0.0.1", hold_ttl_seconds: 700, key_prefix: "tg_" });

    const toml = file("c.toml", 'port = 9002\ndb_path = "/var/lib/tollgate/t.db"\nusage_retention_days = 30\n');
    expect(loadConfig({ file: toml })).toMatchObject({ port: 9002, db_path: "/var/lib/tollgate/t.db", usage_retention_days: 30 });

    const env = { TOLLGATE_CONFIG: toml, PORT: "9003", TOLLGATE_HOLD_TTL_SECONDS: "1200" };
    expect(loadConfig({ env })).toMatchObject({ port: 9003, hold_ttl_seconds: 1200, db_path: "/var/lib/tollgate/t.db" });
    // An explicit file (--config) wins over TOLLGATE_CONFIG; env still wins over the file.
    expect(loadConfig({ env, file: json })).toMatchObject({ port: 9003, host: "127.0.0.1" });
    expect(loadConfig({ env, overrides: { port: 9004 } }).port).toBe(9004);
    // An empty env var does not override.
    expect(loadConfig({ env: { TOLLGATE_CONFIG: toml, PORT: "" } }).port).toBe(9002);
  });

  test("a file named .TOML in upper case is TOML too", () => {
    const upper = file("upper.TOML", 'port = 9006\ndb_path = "/var/lib/tollgate/u.db"\n');
    expect(loadConfig({ file: upper })).toMatchObject({ port: 9006, db_path: "/var/lib/tollgate/u.db" });
    expect(configError(() => loadConfig({ file: file("broken.Toml", "port = = 1") }))).toMatch(/broken\.Toml: invalid TOML/);
  });

  test("models and providers from a TOML file, prices given as USD per 1M tokens", () => {
    const toml = file(
      "models.toml",
      `[[providers]]
id = "local"
base_url = "http://127.0.0.1:11434/v1/"

[[models]]
id = "tiny"
provider = "local"
input_price = "0.30"
cached_input_price = 0.075
output_price = 0.5
`,
    );
    const c = loadConfig({ file: toml });
    expect(c.providers).toHaveLength(1);
    expect(c.providers[0]).toMatchObject({ id: "local", base_url: "http://127.0.0.1:11434/v1" });
    expect(c.models).toHaveLength(1);
    expect(c.models[0]).toMatchObject({ id: "tiny", upstream_model: "tiny", input_price: 300_000, cached_input_price: 75_000, output_price: 500_000 });
  });
});

describe("invalid values", () => {
  test("name the field (and its env var) in one line", () => {
    expect(configError(() => loadConfig({ env: { PORT: "http" } }))).toMatch(/^invalid config: port \(env PORT\): .*"http"/);
    expect(configError(() => loadConfig({ env: { PORT: "70000" } }))).toContain("port");
    expect(configError(() => loadConfig({ env: { TOLLGATE_ADMIN_TOKEN: "short" } }))).toMatch(/admin_token \(env TOLLGATE_ADMIN_TOKEN\): must be at least 16/);
    expect(configError(() => loadConfig({ env: { TOLLGATE_KEY_PREFIX: "sk tg" } }))).toContain("key_prefix");
    expect(configError(() => loadConfig({ env: { XAI_BASE_URL: "ftp://x.ai" } }))).toContain("xai_base_url");
    expect(configError(() => loadConfig({ env: { TOLLGATE_HOLD_TTL_SECONDS: "1" } }))).toContain("hold_ttl_seconds");
    expect(configError(() => loadConfig({ overrides: { max_body_bytes: 1.5 } }))).toContain("max_body_bytes");
  });

  test("a blank, boolean or null number is an error, not 0 or 1", () => {
    expect(configError(() => loadConfig({ env: { PORT: " " } }))).toMatch(/^invalid config: port \(env PORT\): .*" "/);
    expect(configError(() => loadConfig({ file: file("true-port.json", '{"port": true}') }))).toContain("port");
    expect(configError(() => loadConfig({ file: file("null-port.json", '{"port": null}') }))).toContain("port");
    expect(configError(() => loadConfig({ file: file("false-batch.json", '{"settle_batch_ms": false}') }))).toContain("settle_batch_ms");
    expect(configError(() => loadConfig({ file: file("true-rate.toml", "[breaker]\nfailure_rate = true\n") }))).toContain("breaker.failure_rate");
    // Numeric strings still count: env values are strings, and blanks around them are forgiven;
    // decimal digits only (test/config-env-numbers.test.ts).
    expect(loadConfig({ env: { PORT: " 9005 ", TOLLGATE_HOLD_TTL_SECONDS: "1000" } })).toMatchObject({ port: 9005, hold_ttl_seconds: 1000 });
    expect(configError(() => loadConfig({ env: { TOLLGATE_HOLD_TTL_SECONDS: "1e3" } }))).toMatch(/^invalid config: hold_ttl_seconds \(env TOLLGATE_HOLD_TTL_SECONDS\): expected a whole number/);
  });

  test("bad files and bad model entries", () => {
    expect(configError(() => loadConfig({ file: `${dir}/missing.json` }))).toMatch(/missing\.json: cannot read/);
    expect(configError(() => loadConfig({ file: file("bad.json", "{ port: ") }))).toMatch(/invalid JSON/);
    expect(configError(() => loadConfig({ file: file("bad.toml", "port = = 3") }))).toMatch(/invalid TOML/);
    expect(configError(() => loadConfig({ file: file("array.json", "[1]") }))).toMatch(/invalid JSON/);
    const model = { id: "m", provider: "xai", input_price: 1, output_price: 1 };
    expect(configError(() => loadConfig({ overrides: { models: [{ ...model, input_price: "-1" }] } }))).toContain("input_price");
    expect(configError(() => loadConfig({ overrides: { models: [{ ...model, output_price: "0.0000001" }] } }))).toContain("output_price");
    expect(configError(() => loadConfig({ overrides: { models: [{ ...model, provider: "nope" }] } }))).toMatch(/models\.m.*nope/);
    expect(configError(() => loadConfig({ overrides: { models: [model, model] } }))).toMatch(/duplicate/);
  });

  test("values that would only fail at run time: keys and headers HTTP cannot carry, a zero credit rate, a URL of another scheme", () => {
    const provider = { id: "up", base_url: "https://api.example.com/v1" };
    const bad = (p: Record<string, unknown>) => configError(() => loadConfig({ overrides: { providers: [{ ...provider, ...p }] } }));
    expect(bad({ api_key: "\u201cxai-abc\u201d" })).toMatch(/providers\.up: upstream key 1 has a character/);
    expect(bad({ api_keys: ["xai-a", "xai-a\nb"] })).toMatch(/upstream key 2/);
    expect(bad({ api_key: "xai-abc", headers: { "bad header": "x" } })).toMatch(/"bad header" is not an HTTP header name/);
    expect(bad({ api_key: "xai-abc", headers: { "x-team": "a\r\nx-evil: 1" } })).toMatch(/headers\.x-team/);
    // The secret itself is never repeated in the error.
    expect(bad({ api_key: "xai-secret\u00a0value" })).not.toContain("secret");
    expect(() => loadConfig({ overrides: { providers: [{ ...provider, id: "xai", api_key: "xai-abc", headers: { "x-team": "blue team" } }] } })).not.toThrow();
    expect(configError(() => loadConfig({ env: { TOLLGATE_CREDIT_PER_UNIT: "0" } }))).toMatch(/credit_per_unit.*greater than 0/);
    expect(configError(() => loadConfig({ env: { TOLLGATE_PUBLIC_URL: "javascript:alert(1)" } }))).toMatch(/public_url.*http/);
    expect(loadConfig({ env: { TOLLGATE_PUBLIC_URL: "https://gw.example.com" } }).public_url).toBe("https://gw.example.com");
    // A blank or spaced host failed at listen as "getaddrinfo ENOTFOUND", after migrating.
    for (const host of [" ", "local host", "0.0.0.0 "]) expect(configError(() => loadConfig({ env: { HOST: host } }))).toMatch(/host \(env HOST\): an IP address or host name/);
    for (const host of ["0.0.0.0", "127.0.0.1", "::", "::1", "localhost", "gw-1.internal", "fe80::1%eth0"]) expect(loadConfig({ env: { HOST: host } }).host).toBe(host);
  });

  test("host is an IP address or an RFC 1123 host name: a port, a bad address or brackets are config errors", () => {
    for (const host of ["127.0.0.1:8080", "999.999.999.999", "1.2.3", "[::1]", "localhost:80", "-gw.example", "gw_1.internal", "a..b", `${"a".repeat(64)}.example`]) {
      expect(configError(() => loadConfig({ env: { HOST: host } }))).toBe(
        `invalid config: host (env HOST): an IP address or host name, without a port or brackets, such as 0.0.0.0, 127.0.0.1, :: or localhost (got ${JSON.stringify(host)})`,
      );
    }
    // A name is only looked up when serve listens (tested in cli.test.ts).
    for (const host of ["no-such-host.invalid", "LocalHost", "gw.example.com.", "0:0:0:0:0:0:0:0"]) expect(loadConfig({ env: { HOST: host } }).host).toBe(host);
  });
});

test("the result is deeply frozen", () => {
  const c = loadConfig({ env: {} });
  expect(Object.isFrozen(c)).toBe(true);
  expect(Object.isFrozen(c.models)).toBe(true);
  expect(Object.isFrozen(c.models[0])).toBe(true);
  expect(Object.isFrozen(c.providers[0])).toBe(true);
  expect(() => {
    (c as { port: number }).port = 1;
  }).toThrow();
  expect(c.port).toBe(8080);
});

describe("unknown environment variables", () => {
  test("a TOLLGATE_* variable that names no setting is an error naming the closest one", () => {
    expect(configError(() => loadConfig({ env: { TOLLGATE_SETLE_BATCH_MS: "0" } }))).toBe(
      "invalid config: unknown environment variable: TOLLGATE_SETLE_BATCH_MS (did you mean TOLLGATE_SETTLE_BATCH_MS, the setting settle_batch_ms?)",
    );
    // Without the prefix too (the setting's variable is PORT), in any case, several at once.
    expect(configError(() => loadConfig({ env: { TOLLGATE_SMTP_HOST: "mail", tollgate_admn_token: "x", TOLLGATE_COLOUR: "blue" } }))).toBe(
      "invalid config: unknown environment variables: TOLLGATE_COLOUR, TOLLGATE_SMTP_HOST (did you mean SMTP_HOST, the setting smtp_host?), " +
        "tollgate_admn_token (did you mean TOLLGATE_ADMIN_TOKEN, the setting admin_token?)",
    );
    // What Kubernetes gives every pod beside a service named tollgate, and a provider's own key variable, load.
    const links = { TOLLGATE_SERVICE_HOST: "10.0.0.7", TOLLGATE_SERVICE_PORT: "8080", TOLLGATE_PORT: "tcp://10.0.0.7:8080", TOLLGATE_PORT_8080_TCP: "tcp://10.0.0.7:8080", TOLLGATE_PORT_8080_TCP_ADDR: "10.0.0.7" };
    expect(() => loadConfig({ env: links })).not.toThrow();
    // TOLLGATE_PORT is a link only by its tcp:// value: a bare port there was left at 8080 in silence.
    expect(configError(() => loadConfig({ env: { TOLLGATE_PORT: "9000" } }))).toBe(
      "invalid config: unknown environment variable: TOLLGATE_PORT (did you mean PORT, the setting port?)",
    );
    const xai = { id: "xai", base_url: "https://api.x.ai/v1", api_key_env: "TOLLGATE_XAI_KEYS" };
    expect(loadConfig({ env: { TOLLGATE_XAI_KEYS: "xai-1" }, overrides: { providers: [xai] } }).providers[0]?.api_keys).toEqual(["xai-1"]);
    // Every documented variable, and the ones read elsewhere, load.
    const known = Object.fromEntries(Object.keys(ENV_MAP).map((n) => [n, ""]));
    expect(() => loadConfig({ env: { ...known, TOLLGATE_CONFIG: "", TOLLGATE_API_KEY: "sk-tg-x", TOLLGATE_SCREENSHOTS: "1", OTHER_TOOL_SETTING: "1" } })).not.toThrow();
  });

  test("every TOLLGATE_ variable the code, docs and scripts name is known", () => {
    const root = `${import.meta.dir}/..`;
    const files = ["README.md", "package.json"];
    for (const d of ["src", "docs", ".ci", "bench", "build"]) {
      for (const f of new Bun.Glob("**/*.{ts,md,sh,json,toml,yml}").scanSync({ cwd: `${root}/${d}`, dot: true })) files.push(`${d}/${f}`);
    }
    const seen = new Set<string>();
    for (const f of files) {
      // Bar the docs' example of the error itself.
      const text = readFileSync(`${root}/${f}`, "utf8").replace(/unknown environment variables?: \S+/g, "");
      for (const m of text.matchAll(/\bTOLLGATE_[A-Z0-9_]*[A-Z0-9]\b/g)) seen.add(m[0]);
    }
    expect(seen.size).toBeGreaterThan(30);
    // TOLLGATE_PORT as Kubernetes sets it (any other value of it is an error, above).
    const values = Object.fromEntries([...seen].map((n) => [n, n === "TOLLGATE_PORT" ? "tcp://10.0.0.7:8080" : ""]));
    expect(() => loadConfig({ env: values })).not.toThrow();
  });
});

describe("unknown keys", () => {
  test("a misspelt key is an error naming it and the key it resembles, at any depth, instead of a silent default", () => {
    expect(configError(() => loadConfig({ env: {}, file: file("typo.json", JSON.stringify({ setle_batch_ms: 5 })) }))).toBe(
      "invalid config: unknown key: setle_batch_ms (did you mean settle_batch_ms?)",
    );
    const nested = {
      providers: [{ id: "p", base_url: "http://127.0.0.1:9/v1", api_key: "k" }],
      models: [{ id: "m", provider: "p", input_prise: 1, output_price: 2 }],
    };
    expect(configError(() => loadConfig({ env: {}, file: file("nested.json", JSON.stringify(nested)) }))).toBe(
      "invalid config: unknown key in models.m: input_prise (did you mean input_price?)",
    );
    expect(configError(() => loadConfig({ env: {}, file: file("toml-typo.toml", 'port = 8080\n[timeouts]\ntotal_ms = 1000\nfirst_byte = 5\n') }))).toBe(
      "invalid config: unknown key in timeouts: first_byte (did you mean first_byte_ms?)",
    );
    expect(configError(() => loadConfig({ env: {}, overrides: { colour: "blue", port: 1 } }))).toBe("invalid config: unknown key: colour");
    expect(configError(() => loadConfig({ env: {}, overrides: { tiers: [{ min_lifetime_topup: 10, plan: "default" }] } }))).toBe(
      "invalid config: unknown key in tiers.0: min_lifetime_topup (did you mean min_lifetime_topup_usd?)",
    );
  });
});
