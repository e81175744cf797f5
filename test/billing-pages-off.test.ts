import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";
import { WebClient } from "./support/web-client";

// A gateway without Stripe keys (its own process, like every dashboard test of billing).
let gw: BinaryGateway;
beforeAll(async () => {
  gw = await startBinaryGateway({ entry: "source", dbPath: "t.db", stderr: "inherit" });
});
afterAll(() => gw.stop());

test("without Stripe the billing page shows only the alert: nothing payment-related, and checkout is 404", async () => {
  const acc = (await (await gw.admin("/admin/accounts", { body: { name: "Plain customer" } })).json()) as { id: string };
  const web = new WebClient(gw.url);
  web.cookies.set("tg_portal", await gw.session("customer", acc.id));
  const { res, html } = await web.page("/portal/billing");
  expect(res.status).toBe(200);
  expect(html).not.toContain("Buy credits");
  expect(html).not.toContain("Payment history");
  expect(html).not.toContain("Stripe");
  expect(html).toContain("Low-balance alert");
  expect(res.headers.get("content-security-policy")).toContain("form-action 'self';");
  expect((await web.submit("/portal/billing", "/portal/billing/checkout", { amount: "10" })).status).toBe(404);
});
