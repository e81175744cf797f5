import { describe, expect, test } from "bun:test";
import { stripeGateway } from "./support/stripe-gateway";
import { join, portalKey } from "./support/teams";

/**
 * Billing, credits and the low-balance alert are the account owner's on the key-authenticated
 * API as in the portal: a key an admin or a member made gets 403 `owner_only`, the owner's keys
 * (made in the portal, or by the operator) are served.
 */
const env = stripeGateway({ public_url: "https://gw.example.com" });

let n = 0;
const email = (who: string) => `${who}-${++n}-${Date.now()}@example.com`;

const call = (key: string, method: string, path: string, body?: unknown) =>
  fetch(env.gw.url + path, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function newCode(): Promise<string> {
  const res = await env.gw.admin("/admin/codes", { body: { count: 1, amount_micros: 1_000_000 } });
  return ((await res.json()) as { codes: { code: string }[] }).codes[0]!.code;
}

/** An account with its operator-made key, and a key made in the portal by its owner, an admin and a member. */
async function team() {
  const c = await env.gw.customer(5_000_000);
  const keys: Record<"owner" | "admin" | "member", string> = { owner: "", admin: "", member: "" };
  for (const role of ["owner", "admin", "member"] as const) {
    const who = await join(env.gw, c.accountId, role, email(role));
    keys[role] = (await portalKey(env.gw, who.w, `${role} key`)).key;
  }
  return { ...c, keys };
}

describe("owner-only routes on the API", () => {
  test("an admin's or member's key gets 403 owner_only on billing, credits and alerts; the owner's keys are served", async () => {
    const t = await team();
    const setAlert = await call(t.key, "PUT", "/v1/alerts/low-balance", { threshold_micros: 2_000_000 });
    expect(setAlert.status).toBe(200);
    const payment = (await (await call(t.key, "POST", "/v1/billing/checkout", { amount: 10 })).json()) as { id: string };
    const routes = async (): Promise<[string, string, unknown?][]> => [
      ["PUT", "/v1/alerts/low-balance", { threshold_micros: 0 }],
      ["GET", "/v1/alerts/low-balance"],
      ["GET", "/v1/billing/payments"],
      ["GET", `/v1/billing/payments/${payment.id}`],
      ["POST", "/v1/billing/checkout", { amount: 10 }],
      ["POST", "/v1/credits/redeem", { code: await newCode() }],
    ];
    for (const key of [t.keys.admin, t.keys.member]) {
      for (const [method, path, body] of await routes()) {
        const res = await call(key, method, path, body);
        expect([method, path, res.status]).toEqual([method, path, 403]);
        const e = ((await res.json()) as { error: { type: string; code: string; message: string } }).error;
        expect(e).toMatchObject({ type: "permission_error", code: "owner_only" });
        expect(e.message).toContain("owner");
      }
    }
    // Nothing changed: the threshold is the owner's, no code was credited, no payment started.
    const alert = (await (await call(t.key, "GET", "/v1/alerts/low-balance")).json()) as { threshold_micros: number };
    expect(alert.threshold_micros).toBe(2_000_000);
    expect(await env.gw.balance(t.accountId)).toBe(5_000_000);
    const payments = (await (await call(t.key, "GET", "/v1/billing/payments")).json()) as { data: unknown[] };
    expect(payments.data).toHaveLength(1);
    // The owner's keys, the operator's and the portal's, are served on every one.
    for (const key of [t.key, t.keys.owner]) {
      for (const [method, path, body] of await routes()) {
        const res = await call(key, method, path, body);
        expect([method, path, res.status]).toEqual([method, path, method === "POST" && path.endsWith("checkout") ? 201 : 200]);
      }
    }
    expect(await env.gw.balance(t.accountId)).toBe(7_000_000);
  });

  test("what every key may still do: its account, the top-up options, its usage", async () => {
    const t = await team();
    for (const path of ["/v1/me", "/v1/billing", "/v1/usage", "/v1/models"]) expect([path, (await call(t.keys.member, "GET", path)).status]).toEqual([path, 200]);
  });

  test("the OpenAPI description of each owner-only route says so", async () => {
    const spec = (await (await fetch(`${env.gw.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { description?: string }>> };
    const owners: [string, string][] = [
      ["/v1/alerts/low-balance", "get"], ["/v1/alerts/low-balance", "put"], ["/v1/billing/checkout", "post"],
      ["/v1/billing/payments", "get"], ["/v1/billing/payments/{id}", "get"], ["/v1/credits/redeem", "post"],
    ];
    for (const [path, method] of owners) expect([path, method, spec.paths[path]?.[method]?.description]).toEqual([path, method, expect.stringContaining("owner_only")]);
    expect(spec.paths["/v1/billing"]?.get?.description ?? "").not.toContain("owner_only");
  });

  test("an account without members: the operator's keys are its owner's", async () => {
    const c = await env.gw.customer(0);
    expect((await call(c.key, "GET", "/v1/billing/payments")).status).toBe(200);
    expect((await call(c.key, "PUT", "/v1/alerts/low-balance", { threshold_micros: 0 })).status).toBe(200);
  });
});
