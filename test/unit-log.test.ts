/** The operator's log lines: valid JSON whatever the values, one write per batch. */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { createLog, FLUSH_MS } from "../src/lib/log";

test("every JSON line parses back to its fields, whatever the strings hold", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), fc.oneof(fc.double(), fc.integer(), fc.boolean(), fc.constant(null)), (text, other) => {
      let out = "";
      const log = createLog("json", (t) => (out += t));
      log.request({ text, other, gone: undefined });
      log.flush();
      const parsed = JSON.parse(out);
      expect(parsed.msg).toBe("request");
      expect(parsed.text).toBe(text);
      expect(parsed.other).toBe(typeof other === "number" && !Number.isFinite(other) ? null : Object.is(other, -0) ? 0 : other);
      expect("gone" in parsed).toBe(false);
      expect(out.endsWith("}\n") && out.indexOf("\n") === out.length - 1).toBe(true);
    }),
    { numRuns: 2_000 },
  );
});

test("lines of one burst go out in one write, within FLUSH_MS", async () => {
  const writes: string[] = [];
  const log = createLog("json", (t) => writes.push(t));
  for (let i = 0; i < 100; i++) log.request({ i });
  expect(writes).toEqual([]);
  await Bun.sleep(FLUSH_MS * 3);
  expect(writes.length).toBe(1);
  expect(writes[0]!.split("\n").length).toBe(101);
});
