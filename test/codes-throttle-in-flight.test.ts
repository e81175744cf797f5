import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { AttemptGate } from "../src/identity/attempt-gate";
import { LoginThrottle } from "../src/identity/sessions";
import { startGateway, type Gateway, type GatewayClient } from "./support/gateway";
import { pgOverFake } from "./support/pg-gateways";

/**
 * The redeem throttle (20 codes that did not redeem an hour per account) counts only codes that
 * did not redeem, also while codes are in flight: on PostgreSQL a redemption's durable commit
 * really waits, and valid codes redeemed at once, well within the key's limits, are all credited
 * instead of counting as failures. Guesses sent at once are still cut at 20 tried, on both stores
 * (the attempts in flight are bounded with the failures: the rest wait, then hear the pause).
 */
setDefaultTimeout(60_000);

let sqlite: Gateway;
beforeAll(async () => { sqlite = await startGateway(); });
afterAll(() => sqlite.stop());
const pg = pgOverFake(1);

const redeem = (gw: GatewayClient, key: string, code: string) =>
  fetch(`${gw.url}/v1/credits/redeem`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ code }) });

async function codes(gw: GatewayClient, count: number): Promise<string[]> {
  const b = (await (await gw.admin("/admin/codes", { body: { count, amount_micros: 1_000_000 } })).json()) as { codes: { code: string }[] };
  return b.codes.map((c) => c.code);
}

const unknown = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `TG-0000-0000-0000-${String(from + i).padStart(4, "0")}`);

/** Redeems every code at once: the statuses in order, and the error codes of the refusals. */
async function burst(gw: GatewayClient, key: string, list: string[]) {
  const res = await Promise.all(list.map((c) => redeem(gw, key, c)));
  const bodies = (await Promise.all(res.map((r) => r.json()))) as { error?: { code: string } }[];
  return { statuses: res.map((r) => r.status), errors: bodies.flatMap((b) => (b.error ? [b.error.code] : [])), retryAfter: res.map((r) => r.headers.get("retry-after")) };
}

const count = (statuses: number[], s: number) => statuses.filter((x) => x === s).length;

for (const store of ["SQLite", "PostgreSQL"] as const) {
  const gateway = (): GatewayClient => (store === "SQLite" ? sqlite : pg.cluster.gateways[0]!);

  describe(`redeem throttle with codes in flight (${store})`, () => {
    test("30 valid codes redeemed at once are all credited", async () => {
      const gw = gateway();
      const c = await gw.customer(0);
      const r = await burst(gw, c.key, await codes(gw, 30));
      expect(r.errors).toEqual([]);
      expect(await gw.balance(c.accountId)).toBe(30_000_000);
    });

    test("good codes and 15 wrong ones at once are all tried; only the wrong ones count", async () => {
      const gw = gateway();
      const c = await gw.customer(0);
      const r = await burst(gw, c.key, [...(await codes(gw, 10)), ...unknown(15)]);
      expect(r.statuses).toEqual([...Array(10).fill(200), ...Array(15).fill(404)]);
      expect(await gw.balance(c.accountId)).toBe(10_000_000);
      // Five more failures reach the 20, then the account is paused.
      for (const code of unknown(5, 100)) expect((await redeem(gw, c.key, code)).status).toBe(404);
      expect((await redeem(gw, c.key, unknown(1, 200)[0]!)).status).toBe(429);
    });

    test("45 unknown codes sent at once: 20 are tried, the rest are 429 too_many_code_attempts", async () => {
      const gw = gateway();
      const c = await gw.customer(0);
      const r = await burst(gw, c.key, unknown(45));
      expect(count(r.statuses, 404)).toBe(20);
      expect(count(r.statuses, 429)).toBe(25);
      expect(r.errors.filter((e) => e === "too_many_code_attempts")).toHaveLength(25);
      expect(r.retryAfter.filter((h) => h !== null).every((h) => Number(h) > 3500)).toBe(true);
      // The pause holds for a good code too, and for the next burst.
      const good = await codes(gw, 1);
      expect((await redeem(gw, c.key, good[0]!)).status).toBe(429);
      expect(count((await burst(gw, c.key, unknown(10, 500))).statuses, 429)).toBe(10);
    });
  });
}

describe("the gate itself, with no key limits in front (the portal's form)", () => {
  test("1,000 attempts at once: 20 go ahead; once they fail every other one hears the pause", async () => {
    const gate = new AttemptGate(new LoginThrottle(20, 3_600_000));
    const answers: number[] = [];
    const all = Array.from({ length: 1000 }, () => gate.enter("acct").then((w) => answers.push(w)));
    await Bun.sleep(0);
    expect(answers).toEqual(Array(20).fill(0));
    // A good one ending makes room for exactly one more; failures make none.
    gate.leave("acct", false);
    await Bun.sleep(0);
    expect(answers.length).toBe(21);
    for (let i = 0; i < 20; i++) gate.leave("acct", true);
    await Promise.all(all);
    expect(answers.filter((w) => w === 0)).toHaveLength(21);
    expect(answers.filter((w) => w > 0)).toHaveLength(979);
    expect(gate.pending("acct")).toBe(0);
  });
});
