import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { until } from "./support/chat";
import { startFakeStripe, type FakeStripe } from "./support/fake-stripe";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";
import { startSmtp } from "./support/smtp";
import { WebClient } from "./support/web-client";

/**
 * What the compiled binary loads only when it is first needed, from chunks of its own rather than
 * at start: the Stripe library (with the Elysia app) and nodemailer (with the first email). Both
 * must be in the binary and work from there.
 */
setDefaultTimeout(120_000);
let stripe: FakeStripe;
let smtp: Awaited<ReturnType<typeof startSmtp>>;
let gw: BinaryGateway;

beforeAll(async () => {
  stripe = startFakeStripe();
  smtp = await startSmtp();
  gw = await startBinaryGateway({
    config: stripe.config({
      public_url: "https://gw.example.com",
      signup_enabled: true,
      smtp_host: "127.0.0.1",
      smtp_port: smtp.port,
      smtp_from: "portal@gw.example.com",
    }),
  });
});
afterAll(async () => {
  await gw?.stop();
  await smtp?.stop();
  await stripe?.stop();
});

describe("the binary's chunks loaded on first use", () => {
  test("payments: a checkout goes to Stripe through the library", async () => {
    const c = await gw.customer(0);
    const res = await fetch(`${gw.url}/v1/billing/checkout`, {
      method: "POST",
      headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
      body: JSON.stringify({ amount: 10 }),
    });
    expect(res.status).toBe(201);
    const view = (await res.json()) as { id: string };
    const session = [...stripe.sessions.values()].find((s) => (s.metadata as Record<string, string>).tollgate_payment_id === view.id);
    expect(session).toBeDefined();
  });

  test("email: a sign-up link is mailed through nodemailer", async () => {
    const email = "new-user@example.com";
    const form = { name: "Someone", email, password: "correct horse battery", confirm: "correct horse battery" };
    expect((await new WebClient(gw.url).submit("/portal/signup", "/portal/signup", form)).status).toBe(200);
    expect(await until(() => smtp.mails.some((m) => m.to.includes(email)), 10_000)).toBe(true);
    expect(smtp.mails.find((m) => m.to.includes(email))!.data).toContain("https://gw.example.com/portal/signup/confirm/");
  });
});
