/**
 * The usage routes take `start` and `end` as unix seconds, an ISO 8601 date-time, or a plain date
 * (its start, UTC), as the margins report and `tollgate usage --from` do: a calendar date is ISO
 * 8601 too, and was refused with a 400.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chat, user } from "./support/chat";
import { startGateway, type Customer, type Gateway } from "./support/gateway";

let gw: Gateway;
let c: Customer;
beforeAll(async () => {
  gw = await startGateway({ upstream: true });
  c = await gw.customer(1_000_000);
  expect((await chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: {} })).status).toBe(200);
  await gw.runtime.deps.credits.flush();
});
afterAll(() => gw.stop());

const rows = async (path: string, auth: Record<string, string>) => {
  const r = await fetch(`${gw.url}${path}`, { headers: auth });
  const body = (await r.json()) as { data?: unknown[]; error?: unknown };
  return r.status === 200 ? body.data!.length : `${r.status} ${JSON.stringify(body.error)}`;
};

test("GET /v1/usage and GET /admin/usage filter by date", async () => {
  const customer = { authorization: `Bearer ${c.key}` };
  const admin = { authorization: `Bearer ${gw.adminToken}` };
  for (const [base, auth] of [["/v1/usage", customer], [`/admin/usage?account_id=${c.accountId}&`, admin]] as const) {
    const q = base.includes("?") ? base : `${base}?`;
    expect(await rows(`${q}start=2000-01-01&end=2999-01-01`, auth)).toBe(1);
    expect(await rows(`${q}start=2999-01-01`, auth)).toBe(0);
    expect(await rows(`${q}end=2000-01-01`, auth)).toBe(0);
    expect(await rows(`${q}start=2000-01-01T00:00:00Z`, auth)).toBe(1);
    expect(await rows(`${q}start=946684800`, auth)).toBe(1);
    expect(await rows(`${q}start=2000-13-01`, auth)).toMatch(/^400 .*"param":"start"/);
  }
});
