import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { OutcomeWindow } from "../src/gateway/upstream/outcome-window";

type Op = { kind: "push"; dt: number; ok: boolean; account: string } | { kind: "drop"; back: number };

/** The plain model the ring must agree with: an array, shifted when full, filtered by time. */
function model(capacity: number) {
  let xs: { at: number; ok: boolean; account: string }[] = [];
  return {
    push: (at: number, ok: boolean, account: string) => {
      xs.push({ at, ok, account });
      if (xs.length > capacity) xs.shift();
    },
    dropBefore: (from: number) => void (xs = xs.filter((x) => x.at >= from)),
    size: () => xs.length,
    failures: () => xs.filter((x) => !x.ok).length,
    failingAccounts: (need: number) => new Set(xs.filter((x) => !x.ok).map((x) => x.account)).size >= need,
  };
}

describe("a breaker's outcome window", () => {
  test("keeps the newest outcomes up to its capacity and drops by time", () => {
    const w = new OutcomeWindow(3);
    w.push(1, false, "a");
    w.push(2, true, "b");
    w.push(3, false, "b");
    w.push(4, false, "c"); // drops the first
    expect(w.size).toBe(3);
    expect(w.failures()).toBe(2);
    expect(w.failingAccounts(2)).toBe(true);
    expect(w.failingAccounts(3)).toBe(false);
    w.dropBefore(4);
    expect(w.size).toBe(1);
    expect(w.failures()).toBe(1);
  });

  test("agrees with an array model over random histories", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("push" as const), dt: fc.nat(5), ok: fc.boolean(), account: fc.constantFrom("a", "b", "c", "d") }),
      fc.record({ kind: fc.constant("drop" as const), back: fc.nat(20) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { maxLength: 200 }), (capacity, ops: Op[]) => {
        const w = new OutcomeWindow(capacity);
        const m = model(capacity);
        let now = 0;
        for (const o of ops) {
          if (o.kind === "push") {
            now += o.dt;
            w.push(now, o.ok, o.account);
            m.push(now, o.ok, o.account);
          } else {
            w.dropBefore(now - o.back);
            m.dropBefore(now - o.back);
          }
          expect(w.size).toBe(m.size());
          expect(w.failures()).toBe(m.failures());
          for (const need of [1, 2, 3]) expect(w.failingAccounts(need)).toBe(m.failingAccounts(need));
        }
      }),
    );
  });
});
