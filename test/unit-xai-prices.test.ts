import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { fromXaiImagePrice, fromXaiTokenPrice, toXaiImagePrice, toXaiSearchPrice, toXaiTokenPrice } from "../src/money/xai-prices";
import { stringifyToml, withoutModelTables } from "../src/sync/toml";

describe("xAI's price units", () => {
  test("token prices: cents per 100M tokens ↔ USD per 1M scaled by 1e6, exact both ways", () => {
    expect(fromXaiTokenPrice(12_500)).toBe(1_250_000); // $1.25 per 1M
    expect(fromXaiTokenPrice(2_000)).toBe(200_000);
    expect(toXaiTokenPrice(1_250_000)).toBe(12_500);
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e12 }), (v) => toXaiTokenPrice(fromXaiTokenPrice(v)) === v));
    // Between two of xAI's units: rounded up, never below our price.
    expect(toXaiTokenPrice(1)).toBe(1);
    expect(toXaiTokenPrice(1_000_001)).toBe(10_001);
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e12 }), (p) => fromXaiTokenPrice(toXaiTokenPrice(p)) - p >= 0 && fromXaiTokenPrice(toXaiTokenPrice(p)) - p < 100));
  });

  test("image prices: 1e-10 USD ↔ micros, rounded up; tiny values are the documented cents", () => {
    expect(fromXaiImagePrice(200_000_000)).toEqual({ micros: 20_000, unit: "1e-10 USD" }); // $0.02
    expect(fromXaiImagePrice(200_010_001)).toEqual({ micros: 20_002, unit: "1e-10 USD" });
    expect(fromXaiImagePrice(0)).toEqual({ micros: 0, unit: "1e-10 USD" });
    expect(fromXaiImagePrice(2)).toEqual({ micros: 20_000, unit: "USD cents" });
    expect(toXaiImagePrice(20_000)).toBe(200_000_000);
    fc.assert(fc.property(fc.integer({ min: 1, max: 1e9 }), (m) => fromXaiImagePrice(toXaiImagePrice(m)).micros === m));
  });

  test("a search is a web_search call: $5 per 1,000 is 0.5 cents each", () => {
    expect(toXaiSearchPrice(5_000_000)).toBe(50_000_000);
  });
});

describe("the TOML writer", () => {
  test("reads back as what it wrote: tables, arrays of tables, inline arrays, odd keys and strings", () => {
    const doc = {
      port: 9000,
      ratio: 0.8,
      on: true,
      name: 'quote " and \\ and\nnewline',
      cors_origins: ["*"],
      headers: {},
      plans: { "gold.tier": { rpm: 600 }, free: { rpm: 6 } },
      models: [
        { id: "a", input_price: 1.25, long_context: { above_tokens: 199_999, input_price: 2.5 }, deployments: [{ provider: "x" }, { provider: "y", weight: 2 }] },
        { id: "b", kind: "image", image_price: "0.020001" },
      ],
    };
    expect(Bun.TOML.parse(stringifyToml(doc))).toEqual(doc);
  });

  test("taking the models out keeps the rest, and the comments above the next table", () => {
    const text = ["# top", "port = 1", "", "[[models]]", 'id = "a"', "", "[models.tool_prices]", "web_search = 4", "", "# the plans", "[plans.gold]", "rpm = 6"].join("\n");
    expect(withoutModelTables(text, true)).toBe(["# top", "port = 1", "", "# the plans", "[plans.gold]", "rpm = 6"].join("\n"));
    expect(withoutModelTables('models = [{ id = "a" }]\nport = 1', true)).toBeNull();
    expect(withoutModelTables("port = 1\n", false)).toBe("port = 1");
  });
});
