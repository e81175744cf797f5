import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultModels } from "../src/config/catalogue";
import { loadConfig } from "../src/config/load";
import { withMarkup } from "../src/money/pricing";
import { configError } from "./support/config-error";

const dir = mkdtempSync(join(tmpdir(), "tollgate-config-msg-"));
const chat = { id: "m", provider: "xai", input_price: 1, output_price: 1 };

describe("configuration messages", () => {
  test("providers without an xai one and no models: the built-in catalogue needs provider xai", () => {
    const file = join(dir, "providers.toml");
    writeFileSync(file, '[[providers]]\nid = "openrouter"\nbase_url = "https://openrouter.example/api/v1"\n');
    const msg = configError(() => loadConfig({ file }));
    expect(msg).toStartWith('invalid config: providers: you defined providers (openrouter) without one with id "xai", and no models');
    expect(msg).toContain('the built-in models (grok-4, grok-3) are served by provider "xai"');
    expect(msg).toContain('Add a provider with id "xai"');
    expect(msg).not.toContain("unknown provider");
    expect(msg.split("\n")).toHaveLength(1);
    // With an xai provider among them, the built-in catalogue works.
    const ok = loadConfig({ overrides: { providers: [{ id: "xai", base_url: "https://api.x.ai/v1" }, { id: "other", base_url: "https://o.example/v1" }] } });
    expect(ok.models.map((m) => m.id)).toEqual(defaultModels().map((m) => m.id));
    // A model of the user's own naming a missing provider is still that model's error.
    expect(configError(() => loadConfig({ overrides: { models: [{ ...chat, provider: "nope" }] } }))).toBe('invalid config: models.m.provider: unknown provider "nope"');
  });

  test("a missing price says required, whichever layer finds it", () => {
    const models = (m: Record<string, unknown>) => ({ overrides: { models: [m] } });
    expect(configError(() => loadConfig(models({ id: "m", provider: "xai", output_price: 1 })))).toBe("invalid config: models.m.input_price: required (USD per 1M tokens)");
    expect(configError(() => loadConfig(models({ id: "m", provider: "xai", input_price: 1 })))).toBe("invalid config: models.m.output_price: required (USD per 1M tokens)");
    expect(configError(() => loadConfig(models({ id: "img", provider: "xai", kind: "image" })))).toBe("invalid config: models.img.image_price: required (USD per image)");
    expect(configError(() => loadConfig(models({ ...chat, upstream_cost: { output_price: 1 } })))).toBe("invalid config: models.m.upstream_cost.input_price: required");
    expect(configError(() => loadConfig(models({ ...chat, long_context: { above_tokens: 1000, input_price: 2 } })))).toBe("invalid config: models.m.long_context.output_price: required");
    for (const m of [{ ...chat, input_price: null }, { ...chat, upstream_cost: { input_price: 1, output_price: {} } }]) {
      const msg = configError(() => loadConfig(models(m)));
      expect(msg).toContain("expected a USD amount (a number or a decimal string)");
      expect(msg).not.toContain("Invalid input");
    }
  });

  test("a model's whole numbers (and a deployment's, a tier's) may be quoted, as every other whole number of the file", () => {
    const quoted = { ...chat, context_window: "200000", max_output_tokens: " 8192 ", tool_call_allowance: "0", reasoning_allowance_tokens: "1024", created: "1735689600" };
    const m = loadConfig({ overrides: { models: [quoted] } }).models.find((x) => x.id === "m")!;
    expect([m.context_window, m.max_output_tokens, m.tool_call_allowance, m.reasoning_allowance_tokens, m.created]).toEqual([200_000, 8192, 0, 1024, 1735689600]);
    expect(configError(() => loadConfig({ overrides: { models: [{ ...chat, context_window: "0x10" }] } }))).toBe("invalid config: models.m.context_window: expected a whole number in decimal digits");
  });

  test("list entries are named by their id in messages", () => {
    expect(configError(() => loadConfig({ overrides: { models: [{ ...chat, context_window: -1 }] } }))).toStartWith("invalid config: models.m.context_window:");
    expect(configError(() => loadConfig({ overrides: { providers: [{ id: "p", base_url: "not a url" }] } }))).toStartWith("invalid config: providers.p.base_url:");
  });

  test("markup_percent takes at most two decimals, as --markup: a third would be billed rounded", () => {
    const costPlus = (markup_percent: unknown) => ({ overrides: { models: [{ ...chat, pricing: "cost_plus", markup_percent }] } });
    const rule = "expected a percentage from 0 to 10000 with at most 2 decimals";
    for (const bad of [12.345, 0.001, 12.340000001, 10_000.01, -1]) {
      expect(configError(() => loadConfig(costPlus(bad)))).toBe(`invalid config: models.m.markup_percent: ${rule} (got ${bad})`);
    }
    // Decimals that are inexact in binary are still two decimals, and are billed exactly.
    for (const [markup, billed] of [[0.07, 1_000_700], [1.1, 1_011_000], [12.34, 1_123_400], [99.99, 1_999_900], [10_000, 101_000_000], [0, 1_000_000]] as const) {
      expect(loadConfig(costPlus(markup)).models[0]!.markup_percent).toBe(markup);
      expect(withMarkup(1_000_000, markup)).toBe(billed);
    }
    const file = join(dir, "markup.toml");
    writeFileSync(file, '[[models]]\nid = "m"\nprovider = "xai"\ninput_price = 1\noutput_price = 1\npricing = "cost_plus"\nmarkup_percent = 12.345\n');
    expect(configError(() => loadConfig({ file }))).toBe(`invalid config: models.m.markup_percent: ${rule} (got 12.345)`);
    writeFileSync(file, '[[models]]\nid = "m"\nprovider = "xai"\ninput_price = 1\noutput_price = 1\npricing = "cost_plus"\nmarkup_percent = 12.30\n');
    expect(loadConfig({ file }).models[0]!.markup_percent).toBe(12.3);
  });
});
