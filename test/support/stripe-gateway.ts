import { afterAll, beforeAll } from "bun:test";
import { startFakeStripe, type FakeStripe } from "./fake-stripe";
import { startGateway, type Gateway } from "./gateway";

/**
 * A gateway whose Stripe is the fake one, started before the file's tests and stopped after:
 * `settings` are merged into the fake's configuration. Read `stripe` and `gw` inside tests.
 */
export function stripeGateway(settings: Record<string, unknown> = {}): { readonly stripe: FakeStripe; readonly gw: Gateway } {
  const ctx = {} as { stripe: FakeStripe; gw: Gateway };
  beforeAll(async () => {
    ctx.stripe = startFakeStripe();
    ctx.gw = await startGateway({ config: ctx.stripe.config(settings) });
  });
  afterAll(async () => {
    await ctx.gw?.stop();
    await ctx.stripe?.stop();
  });
  return ctx;
}
