import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadConfig } from "../src/config/load";
import { ENV_MAP } from "../src/config/env-map";
import { configError } from "./support/config-error";

/**
 * A number in an environment variable (or quoted in the file) is plain decimal digits: Number()
 * alone would take 1e3, 0x1F90, 0b11 or 0o17, which no operator means for a port or a time limit.
 */

const dir = mkdtempSync(join(tmpdir(), "tollgate-env-numbers-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every variable of a whole-number setting, with a value it accepts. */
const WHOLE: Record<string, string> = {
  PORT: "8080",
  SMTP_PORT: "587",
  STRIPE_API_PORT: "443",
  TOLLGATE_HOLD_TTL_SECONDS: "900",
  TOLLGATE_SETTLE_BATCH_MS: "100",
  TOLLGATE_MAX_BODY_BYTES: "4096",
  TOLLGATE_MAX_ANSWER_BYTES: "2097152",
  TOLLGATE_MAX_CONCURRENT_STREAMS: "1000",
  TOLLGATE_SHUTDOWN_GRACE_MS: "20000",
  TOLLGATE_IDLE_TIMEOUT_SECONDS: "240",
  TOLLGATE_USAGE_RETENTION_DAYS: "90",
  TOLLGATE_STORED_OBJECT_RETENTION_DAYS: "35",
  TOLLGATE_RATELIMIT_SNAPSHOT_SECONDS: "5",
  TOLLGATE_SESSION_TTL_HOURS: "168",
  TOLLGATE_INVITE_TTL_HOURS: "72",
  TOLLGATE_ALERT_REFIRE_SECONDS: "3600",
};

/** Every variable of a USD amount (fractional: up to 6 decimals), with a value it accepts. */
const USD: Record<string, string> = {
  TOLLGATE_TOPUP_MIN: "5",
  TOLLGATE_TOPUP_MAX: "1000",
  TOLLGATE_CREDIT_PER_UNIT: "1",
  TOLLGATE_LOW_BALANCE_THRESHOLD_USD: "2",
  TOLLGATE_SIGNUP_CREDITS_USD: "1",
};

/** Other spellings of the same whole number, each one Number() reads as it. */
function otherSpellings(value: string): string[] {
  const n = Number(value);
  return [n.toExponential(), `0x${n.toString(16)}`, `0b${n.toString(2)}`, `0o${n.toString(8)}`, `${n}.0`, `+${n}`, `${n}e0`];
}

test("every numeric variable is in one of the lists above", () => {
  const base = loadConfig({ env: {} }) as unknown as Record<string, unknown>;
  const numeric = Object.entries(ENV_MAP).filter(([, field]) => typeof base[field] === "number" || field === "stripe_api_port").map(([name]) => name);
  expect(numeric.sort()).toEqual([...Object.keys(WHOLE), ...Object.keys(USD)].sort());
});

test("a whole-number variable takes decimal digits (blanks around them forgiven), nothing else, and the error names it", () => {
  for (const [name, value] of Object.entries(WHOLE)) {
    const field = ENV_MAP[name]!;
    expect((loadConfig({ env: { [name]: value } }) as unknown as Record<string, unknown>)[field]).toBe(Number(value));
    expect((loadConfig({ env: { [name]: ` ${value}\t` } }) as unknown as Record<string, unknown>)[field]).toBe(Number(value));
    for (const spelling of otherSpellings(value)) {
      expect(configError(() => loadConfig({ env: { [name]: spelling } }), `${name}=${spelling}`)).toBe(
        `invalid config: ${field} (env ${name}): expected a whole number in decimal digits (got ${JSON.stringify(spelling)})`,
      );
    }
  }
  // What the range check says stays its own.
  expect(configError(() => loadConfig({ env: { PORT: "-1" } }))).toBe('invalid config: port (env PORT): Too small: expected number to be >=0 (got "-1")');
  expect(configError(() => loadConfig({ env: { PORT: "1_000" } }))).toContain("expected a whole number in decimal digits");
  expect(configError(() => loadConfig({ env: { PORT: "Infinity" } }))).toContain("expected a whole number in decimal digits");
});

test("a USD variable takes a decimal amount (the one fractional kind in env), and no other spelling", () => {
  for (const [name, value] of Object.entries(USD)) {
    const field = ENV_MAP[name]!;
    const got = (v: string) => (loadConfig({ env: { [name]: v } }) as unknown as Record<string, unknown>)[field];
    expect(got(value)).toBe(Number(value) * 1_000_000);
    expect(got(`${value}.25`)).toBe(Number(value) * 1_000_000 + 250_000);
    for (const spelling of otherSpellings(value).filter((s) => s !== `${Number(value)}.0`)) {
      expect(configError(() => loadConfig({ env: { [name]: spelling } }))).toStartWith(`invalid config: ${field} (env ${name}): not a USD amount`);
    }
  }
  expect(configError(() => loadConfig({ env: { TOLLGATE_TOPUP_PRESETS: "10,2.5e1" } }))).toStartWith("invalid config: topup_presets.1 (env TOLLGATE_TOPUP_PRESETS): not a USD amount");
});

test("a number quoted in the file follows the same rule; a number written as one is the format's own", () => {
  const json = (name: string, body: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(body));
    return path;
  };
  const toml = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  expect(loadConfig({ file: json("quoted.json", { port: "9001" }) }).port).toBe(9001);
  expect(configError(() => loadConfig({ file: json("hex.json", { port: "0x1F90" }) }), '{"port": "0x1F90"}')).toBe('invalid config: port (env PORT): expected a whole number in decimal digits (got "0x1F90")');
  expect(configError(() => loadConfig({ file: toml("exp.toml", 'port = "8e3"\n') }))).toBe('invalid config: port (env PORT): expected a whole number in decimal digits (got "8e3")');
  expect(configError(() => loadConfig({ file: toml("rate.toml", '[breaker]\nfailure_rate = "5e-1"\n') }))).toBe(
    "invalid config: breaker.failure_rate: expected a number in decimal digits (such as 0.5)",
  );
  expect(loadConfig({ file: toml("rate-ok.toml", '[breaker]\nfailure_rate = "0.25"\n') }).breaker.failure_rate).toBe(0.25);
  // A plan's limits too: they were refused with zod's raw "expected number, received string".
  expect(loadConfig({ file: json("plan.json", { plans: { pro: { rpm: "3000", tpm: " 5000000 ", concurrency: "100" } } }) }).plans.pro).toEqual({ rpm: 3000, tpm: 5_000_000, concurrency: 100 });
  expect(configError(() => loadConfig({ file: toml("plan-hex.toml", '[plans.pro]\nrpm = "0x10"\ntpm = 1\nconcurrency = 1\n') }))).toBe(
    "invalid config: plans.pro.rpm: expected a whole number in decimal digits",
  );
  expect(configError(() => loadConfig({ file: json("plan-zero.json", { plans: { pro: { rpm: "0", tpm: 1, concurrency: 1 } } }) }))).toStartWith("invalid config: plans.pro.rpm: Too small");
  // TOML's own integer syntax is typed by the file: 0x1F90 there is the integer 8080.
  expect(loadConfig({ file: toml("toml-hex.toml", "port = 0x1F90\n") }).port).toBe(8080);
  // A fraction is still refused where the setting is whole.
  expect(configError(() => loadConfig({ file: toml("half.toml", "port = 8080.5\n") }))).toStartWith("invalid config: port (env PORT):");
});

test("through the CLI: PORT=0x1F90 is a config error, exit 2, one line naming the variable", async () => {
  const proc = Bun.spawn([process.execPath, resolve(import.meta.dir, "../src/index.ts"), "accounts", "list", "--db", join(dir, "cli.db")], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", HOME: dir, PORT: "0x1F90" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  expect({ code, stderr: stderr.trimEnd() }).toEqual({ code: 2, stderr: 'invalid config: port (env PORT): expected a whole number in decimal digits (got "0x1F90")' });
});
