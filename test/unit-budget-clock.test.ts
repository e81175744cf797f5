/** UTC budget periods are computed without Intl; they must equal what Intl says for Etc/UTC. */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { BUDGET_PERIODS, BudgetClock } from "../src/money/budget-clock";

test("UTC without Intl = Etc/UTC through Intl, for every period and instant", () => {
  const fast = new BudgetClock("UTC");
  const intl = new BudgetClock("Etc/UTC");
  fc.assert(
    fc.property(fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2100, 0, 1) }), fc.constantFrom(...BUDGET_PERIODS), (ms, period) => {
      expect(fast.periodStart(period, ms)).toBe(intl.periodStart(period, ms));
      expect(fast.periodEnd(period, ms)).toBe(intl.periodEnd(period, ms));
      expect(fast.format(ms)).toBe(intl.format(ms));
    }),
    { numRuns: 3_000 },
  );
});
