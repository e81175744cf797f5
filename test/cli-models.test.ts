import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadConfig, type Config } from "../src/config/load";
import { ensureBinary } from "./support/binary";

// Every test spawns the CLI (and one builds the binary).
setDefaultTimeout(120_000);

const ENTRY = resolve(import.meta.dir, "../src/index.ts");
const dir = mkdtempSync(join(tmpdir(), "tollgate-models-"));
const DB = join(dir, "main.db");
const KEY = "xai-upstream-key-123";

/** xAI's two lists, in the documented shapes (prices in cents per 100M tokens, images in 1e-10 USD). */
const LANGUAGE = {
  models: [
    {
      id: "grok-4.3", fingerprint: "fp_1", created: 1777507200, object: "model", owned_by: "xai", version: "1.0",
      input_modalities: ["text", "image"], output_modalities: ["text"], aliases: ["grok-4.3-latest"],
      prompt_text_token_price: 12500, cached_prompt_text_token_price: 2000, prompt_image_token_price: 12500, completion_text_token_price: 25000,
      search_price: 0, prompt_text_token_price_long_context: 25000, cached_prompt_text_token_price_long_context: 4000,
      completion_text_token_price_long_context: 50000, long_context_threshold: 200000,
    },
    {
      id: "grok-4.7", fingerprint: "fp_2", created: 1789948800, object: "model", owned_by: "xai", version: "1.0",
      input_modalities: ["text", "image"], output_modalities: ["text"], aliases: [],
      prompt_text_token_price: 20000, cached_prompt_text_token_price: 5000, prompt_image_token_price: 20000, completion_text_token_price: 60000,
      search_price: 0, prompt_text_token_price_long_context: 40000, cached_prompt_text_token_price_long_context: 10000,
      completion_text_token_price_long_context: 120000, long_context_threshold: 200000,
    },
    {
      // No cached price and no long-context tier (zeros), an odd input price for the rounding.
      id: "grok-9", fingerprint: "fp_3", created: 1790000000, object: "model", owned_by: "xai", version: "1.0",
      input_modalities: ["text"], output_modalities: ["text"], aliases: [],
      prompt_text_token_price: 30001, cached_prompt_text_token_price: 0, prompt_image_token_price: 0, completion_text_token_price: 150000,
      search_price: 0, prompt_text_token_price_long_context: 0, cached_prompt_text_token_price_long_context: 0,
      completion_text_token_price_long_context: 0, long_context_threshold: 0,
    },
  ],
};
const IMAGES = {
  models: [
    { id: "grok-imagine-image", fingerprint: "fp_4", max_prompt_length: 1024, created: 1769472000, object: "model", owned_by: "xai", version: "1.0", input_modalities: ["text", "image"], output_modalities: ["image"], image_price: 200000000, aliases: [] },
    { id: "grok-imagine-image-9", fingerprint: "fp_5", max_prompt_length: 1024, created: 1790000000, object: "model", owned_by: "xai", version: "1.0", input_modalities: ["text"], output_modalities: ["image"], image_price: 200010000, aliases: [] },
  ],
};

let failing = false;
const upstream = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch(req) {
    if (req.headers.get("authorization") !== `Bearer ${KEY}`) return Response.json({ code: "Unauthenticated", error: "bad key" }, { status: 400 });
    if (failing) return Response.json({ code: "Internal", error: "boom" }, { status: 500 });
    const path = new URL(req.url).pathname;
    if (path === "/v1/language-models") return Response.json(LANGUAGE);
    if (path === "/v1/image-generation-models") return Response.json(IMAGES);
    return new Response("not found", { status: 404 });
  },
});
const BASE = `http://127.0.0.1:${upstream.port}/v1`;
const provider = { id: "xai", base_url: BASE, api_key: KEY, headers: { "x-team": "ops" } };

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string[], args: string[]): Promise<Result> {
  const proc = Bun.spawn([...cmd, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}
const cli = (args: string[]) => run([process.execPath, ENTRY], [...args, "--db", DB]);

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function syncRows(): { actor: string; target_type: string; target_id: string; before: string; after: string }[] {
  const db = new Database(DB, { readonly: true });
  try {
    return db.query("SELECT actor, target_type, target_id, before, after FROM audit_log WHERE action = 'models.sync' ORDER BY id").all() as never;
  } finally {
    db.close();
  }
}

const model = (c: Config, id: string) => c.models.find((m) => m.id === id);

/** A JSON config: some settings, an unlisted model, grok-4.3 as listed, grok-4.7 at old prices. */
const JSON_CONFIG = {
  port: 9100,
  plans: { small: { rpm: 60, tpm: 100000, concurrency: 5 } },
  providers: [provider],
  models: [
    { id: "grok-4.3", provider: "xai", input_price: 1.25, cached_input_price: 0.2, output_price: 2.5, long_context: { above_tokens: 199999, input_price: 2.5, cached_input_price: 0.4, output_price: 5 }, reasoning_allowance_tokens: 4096 },
    { id: "grok-4.7", provider: "xai", input_price: 3, cached_input_price: 0.75, output_price: 15, max_output_tokens: 8000 },
    { id: "grok-2", provider: "xai", input_price: 2, output_price: 10 },
    { id: "grok-imagine-image", provider: "xai", kind: "image", image_price: 0.02 },
  ],
};

afterAll(() => {
  upstream.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

describe("tollgate models sync", () => {
  test("--dry-run --json: new models, changed prices and unlisted ones, and nothing written", async () => {
    const path = write("dry.json", JSON.stringify(JSON_CONFIG, null, 2));
    const r = await cli(["models", "sync", "--config", path, "--dry-run", "--json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ provider: "xai", base_url: BASE, markup_percent: 0, dry_run: true, in_sync: false, written: false });
    expect(doc.added.map((m: { id: string }) => m.id)).toEqual(["grok-9", "grok-imagine-image-9"]);
    // No cached price upstream: cached tokens cost the input price. 30001 cents/100M = $3.0001/1M.
    expect(doc.added[0].prices).toEqual({ input_price: 3.0001, cached_input_price: 3.0001, output_price: 15 });
    expect(doc.added[1].prices).toEqual({ image_price: 0.020001 });
    expect(doc.changed).toEqual([
      {
        id: "grok-4.7", kind: "chat", upstream_model: "grok-4.7", notes: [],
        before: { input_price: 3, cached_input_price: 0.75, output_price: 15 },
        after: { input_price: 2, cached_input_price: 0.5, output_price: 6, long_context: { above_tokens: 199999, input_price: 4, cached_input_price: 1, output_price: 12 } },
      },
    ]);
    expect(doc.unlisted).toEqual([{ id: "grok-2", upstream_model: "grok-2" }]);
    expect(readFileSync(path, "utf8")).toBe(JSON.stringify(JSON_CONFIG, null, 2));
  });

  test("the human diff names each model once, with what changes", async () => {
    const path = write("human.json", JSON.stringify(JSON_CONFIG));
    const r = await cli(["models", "sync", "--config", path, "--dry-run"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe(`xAI provider xai (${BASE}): 3 language and 2 image models`);
    expect(lines).toContainEqual(expect.stringMatching(/^new\s+grok-9\s+input 3\.0001, cached 3\.0001, output 15 USD per 1M tokens$/));
    expect(lines).toContainEqual(expect.stringMatching(/^new\s+grok-imagine-image-9\s+0\.020001 USD per image$/));
    expect(lines).toContainEqual(expect.stringMatching(/^changed\s+grok-4\.7\s+input 3 → 2, cached 0\.75 → 0\.5, output 15 → 6, no long-context tier → long context from 200000: 4 \/ 1 \/ 12$/));
    expect(lines).toContainEqual(expect.stringMatching(/^unlisted\s+grok-2\s+upstream model grok-2 is no longer listed; kept$/));
    expect(lines.at(-1)).toBe("dry run: nothing written");
  });

  test("--markup 12.5 writes list prices above xAI's, rounded up to the micro, keeps the rest, audits", async () => {
    const path = write("tollgate.json", JSON.stringify(JSON_CONFIG, null, 2));
    const r = await cli(["models", "sync", "--config", path, "--markup", "12.5", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ written: true, markup_percent: 12.5, config_file: path });
    const c = loadConfig({ file: path });
    expect(c.port).toBe(9100);
    expect(c.plans.small).toEqual({ rpm: 60, tpm: 100000, concurrency: 5 });
    expect(c.providers[0]!.headers).toEqual({ "x-team": "ops" });
    // 3_000_100 × 1.125 = 3_375_112.5 → 3_375_113; 20_001 micros × 1.125 = 22_501.125 → 22_502.
    expect(model(c, "grok-9")).toMatchObject({ provider: "xai", input_price: 3_375_113, cached_input_price: 3_375_113, output_price: 16_875_000, created: 1790000000 });
    expect(model(c, "grok-9")!.long_context).toBeUndefined();
    expect(model(c, "grok-imagine-image-9")).toMatchObject({ kind: "image", image_price: 22_502 });
    expect(model(c, "grok-4.3")).toMatchObject({ input_price: 1_406_250, cached_input_price: 225_000, output_price: 2_812_500, reasoning_allowance_tokens: 4096 });
    expect(model(c, "grok-4.3")!.long_context).toEqual({ above_tokens: 199_999, input_price: 2_812_500, cached_input_price: 450_000, output_price: 5_625_000 });
    expect(model(c, "grok-4.7")).toMatchObject({ input_price: 2_250_000, output_price: 6_750_000, max_output_tokens: 8000 });
    expect(model(c, "grok-2")).toMatchObject({ input_price: 2_000_000 });

    const rows = syncRows();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor: "cli", target_type: "config", target_id: path });
    expect(JSON.parse(rows[0]!.before).models["grok-4.7"]).toEqual({ input_price: 3, cached_input_price: 0.75, output_price: 15 });
    const after = JSON.parse(rows[0]!.after);
    expect(after).toMatchObject({ provider: "xai", markup_percent: 12.5 });
    expect(after.models["grok-9"]).toEqual({ input_price: 3.375113, cached_input_price: 3.375113, output_price: 16.875 });

    // Run again: nothing differs, nothing is written or audited.
    const again = await cli(["models", "sync", "--config", path, "--markup", "12.5"]);
    expect(again.code).toBe(0);
    expect(again.stdout.trimEnd().split("\n").at(-1)).toBe("in sync: every listed model is in the catalogue at these prices");
    expect(syncRows()).toHaveLength(1);
  });

  test("a config without models gets the built-in catalogue written out, updated", async () => {
    const path = write("builtin.json", JSON.stringify({ providers: [provider] }));
    const r = await cli(["models", "sync", "--config", path, "--json"]);
    expect(r.code).toBe(0);
    const c = loadConfig({ file: path });
    for (const id of ["grok-4.7", "grok-4.3", "grok-4", "grok-3", "grok-imagine-image-quality", "grok-9", "grok-imagine-image-9"]) expect(model(c, id)).toBeDefined();
    expect(model(c, "grok-4")).toMatchObject({ upstream_model: "grok-4.3", input_price: 1_250_000 });
    expect(JSON.parse(r.stdout).changed).toEqual([]); // the built-in prices are xAI's
  });

  test("TOML through the compiled binary: comments and other tables kept, models rewritten", async () => {
    const bin = await ensureBinary();
    const toml = [
      "# Tollgate for ACME",
      "port = 9200 # the public port",
      "",
      "[[providers]]",
      'id = "xai"',
      `base_url = "${BASE}"`,
      `api_key = "${KEY}"`,
      "",
      "[[models]]",
      'id = "grok-4.7"',
      'provider = "xai"',
      "input_price = 3",
      "output_price = 15",
      "",
      "[models.tool_prices]",
      "web_search = 4",
      "",
      "# Plans of the paying customers",
      "[plans.gold]",
      "rpm = 600",
      "tpm = 1000000",
      "concurrency = 20",
      "",
    ].join("\n");
    const path = write("tollgate.toml", toml);
    const r = await run([bin], ["models", "sync", "--config", path, "--db", DB]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("wrote 4 new and 1 changed model(s) to");
    const text = readFileSync(path, "utf8");
    for (const kept of ["# Tollgate for ACME", "port = 9200 # the public port", "# Plans of the paying customers", "[plans.gold]"]) expect(text).toContain(kept);
    const c = loadConfig({ file: path });
    expect(c.port).toBe(9200);
    expect(c.plans.gold).toEqual({ rpm: 600, tpm: 1000000, concurrency: 20 });
    expect(model(c, "grok-4.7")).toMatchObject({ input_price: 2_000_000, output_price: 6_000_000, tool_prices: expect.objectContaining({ web_search: 4_000_000 }) });
    expect(model(c, "grok-4.7")!.long_context).toMatchObject({ above_tokens: 199_999, output_price: 12_000_000 });
    expect(c.models.map((m) => m.id)).toEqual(["grok-4.7", "grok-4.3", "grok-9", "grok-imagine-image", "grok-imagine-image-9"]);
    expect(syncRows().at(-1)).toMatchObject({ target_id: path });
  });

  test("exit codes: 1 when the upstream fails, 2 for usage errors", async () => {
    const path = write("codes.json", JSON.stringify(JSON_CONFIG));
    failing = true;
    try {
      const r = await cli(["models", "sync", "--config", path]);
      expect(r.code).toBe(1);
      expect(r.stderr.trimEnd().split("\n")).toEqual([`error: ${BASE}/language-models answered 500: {"code":"Internal","error":"boom"}`]);
    } finally {
      failing = false;
    }
    expect(readFileSync(path, "utf8")).toBe(JSON.stringify(JSON_CONFIG));
    const usage = async (args: string[], message: RegExp) => {
      const r = await cli(args);
      expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(message)]);
    };
    await usage(["models", "sync", "--config", path, "--markup", "abc"], /--markup: expected a percentage/);
    await usage(["models", "sync", "--config", path, "--markup", "-5"], /--markup: expected a percentage/);
    await usage(["models", "sync", "--config", path, "--markup", "12.345"], /--markup: expected a percentage from 0 to 10000 with at most 2 decimals, got "12.345"/);
    await usage(["models", "sync", "--config", path, "--provider", "nope"], /--provider: unknown provider "nope"/);
    await usage(["models", "sync"], /name the config file to write with --config/);
    const keyless = write("keyless.json", JSON.stringify({ ...JSON_CONFIG, providers: [{ id: "xai", base_url: BASE }] }));
    await usage(["models", "sync", "--config", keyless], /provider xai has no API key/);
  });
});
