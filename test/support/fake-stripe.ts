import Stripe from "stripe";

/**
 * A local stand-in for the parts of Stripe's HTTP API that Tollgate calls, so that the real
 * `stripe` library runs end to end against it (pointed here with host/port/protocol). Records
 * every request with its form-encoded parameters, flattened as Stripe encodes them
 * (`line_items[0][price_data][unit_amount]`).
 */
export interface FakeStripeRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  headers: Record<string, string>;
}

export interface FakeStripe {
  url: string;
  host: string;
  port: number;
  requests: FakeStripeRequest[];
  sessions: Map<string, Record<string, unknown>>;
  /** The next n API calls answer this status with a Stripe error body. */
  failNext(n: number, status?: number): void;
  /** Config overrides that point Tollgate's Stripe client here. */
  config(extra?: Record<string, unknown>): Record<string, unknown>;
  stop(): Promise<void>;
}

export const STRIPE_KEY = "sk_test_tollgate_fake_0123456789";
export const WEBHOOK_SECRET = "whsec_tollgate_test_secret_0123456789";

export function startFakeStripe(): FakeStripe {
  const requests: FakeStripeRequest[] = [];
  const sessions = new Map<string, Record<string, unknown>>();
  const byIdempotencyKey = new Map<string, Record<string, unknown>>();
  let failures = 0;
  let failStatus = 500;
  let seq = 0;

  const server: Bun.Server<undefined> = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req): Promise<Response> {
      const url = new URL(req.url);
      // The page a browser lands on after Tollgate redirects it to the "hosted" checkout.
      if (req.method === "GET" && url.pathname.startsWith("/checkout/")) {
        const id = url.pathname.split("/").pop()!;
        return new Response(`<!doctype html><title>Fake Stripe Checkout</title><link rel="icon" href="data:,"><h1 id="session">${id}</h1>`, {
          headers: { "content-type": "text/html; charset=utf-8" },
        });
      }
      const text = req.method === "GET" ? url.search.slice(1) : await req.text();
      const params = Object.fromEntries(new URLSearchParams(text));
      requests.push({ method: req.method, path: url.pathname, params, headers: Object.fromEntries(req.headers) });
      if (failures > 0) {
        failures--;
        return Response.json(
          { error: { type: failStatus >= 500 ? "api_error" : "invalid_request_error", message: "Injected failure" } },
          { status: failStatus },
        );
      }
      if (req.method === "POST" && url.pathname === "/v1/checkout/sessions") {
        const key = req.headers.get("idempotency-key");
        const replay = key ? byIdempotencyKey.get(key) : undefined;
        if (replay) return Response.json(replay);
        const id = `cs_test_${++seq}_${crypto.randomUUID().slice(0, 8)}`;
        const metadata = Object.fromEntries(
          Object.entries(params)
            .filter(([k]) => k.startsWith("metadata["))
            .map(([k, v]) => [k.slice("metadata[".length, -1), v]),
        );
        const session: Record<string, unknown> = {
          id,
          object: "checkout.session",
          mode: params.mode,
          status: "open",
          payment_status: "unpaid",
          amount_total: Number(params["line_items[0][price_data][unit_amount]"]) * Number(params["line_items[0][quantity]"] ?? 1),
          currency: params["line_items[0][price_data][currency]"],
          client_reference_id: params.client_reference_id ?? null,
          customer_email: params.customer_email ?? null,
          metadata,
          payment_intent: null,
          success_url: params.success_url,
          cancel_url: params.cancel_url,
          url: `http://127.0.0.1:${server.port}/checkout/${id}`,
        };
        sessions.set(id, session);
        if (key) byIdempotencyKey.set(key, session);
        return Response.json(session);
      }
      const cs = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(url.pathname);
      if (req.method === "GET" && cs) {
        const session = sessions.get(cs[1]!);
        if (session) return Response.json(session);
        return Response.json({ error: { type: "invalid_request_error", message: `No such checkout.session: '${cs[1]}'` } }, { status: 404 });
      }
      const pi = /^\/v1\/payment_intents\/([^/]+)$/.exec(url.pathname);
      if (req.method === "GET" && pi) {
        const charge = `ch_for_${pi[1]}`;
        return Response.json({
          id: pi[1],
          object: "payment_intent",
          status: "succeeded",
          latest_charge: { id: charge, object: "charge", paid: true, payment_intent: pi[1], receipt_url: `https://pay.stripe.test/receipts/${charge}` },
        });
      }
      return Response.json({ error: { type: "invalid_request_error", message: `Unrecognized request URL (${req.method}: ${url.pathname})` } }, { status: 404 });
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}`,
    host: "127.0.0.1",
    port: server.port!,
    requests,
    sessions,
    failNext(n, status = 500) {
      failures = n;
      failStatus = status;
    },
    config: (extra = {}) => ({
      stripe_secret_key: STRIPE_KEY,
      stripe_webhook_secret: WEBHOOK_SECRET,
      stripe_api_host: "127.0.0.1",
      stripe_api_port: server.port,
      stripe_api_protocol: "http",
      ...extra,
    }),
    stop: async () => {
      await server.stop(true);
    },
  };
}

// A client used only for the library's own test-signature helper.
const signer = new Stripe(STRIPE_KEY);

/** Signs `payload` the way Stripe does (the library's test-header helper), optionally at another time. */
export function signStripe(payload: string, opts: { secret?: string; timestamp?: number } = {}): Promise<string> {
  return signer.webhooks.generateTestHeaderStringAsync({ payload, secret: opts.secret ?? WEBHOOK_SECRET, timestamp: opts.timestamp });
}

let eventSeq = 0;
export function stripeEvent(type: string, object: Record<string, unknown>): string {
  return JSON.stringify({
    id: `evt_test_${++eventSeq}_${crypto.randomUUID().slice(0, 8)}`,
    object: "event",
    api_version: "2026-10-28.endive",
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    data: { object },
  });
}

/** A session as Stripe reports it once paid (from a session this fake created, or made up). */
export function paidSession(session: Record<string, unknown>, paymentIntent = `pi_test_${crypto.randomUUID().slice(0, 12)}`) {
  return { ...session, status: "complete", payment_status: "paid", payment_intent: paymentIntent };
}

export function refundedCharge(paymentIntent: string, amount: number, amountRefunded: number, currency = "usd") {
  return {
    id: `ch_for_${paymentIntent}`,
    object: "charge",
    paid: true,
    amount,
    amount_refunded: amountRefunded,
    refunded: amountRefunded >= amount,
    currency,
    payment_intent: paymentIntent,
    receipt_url: `https://pay.stripe.test/receipts/ch_for_${paymentIntent}`,
  };
}

export function dispute(paymentIntent: string, amount: number, status: string) {
  return {
    id: `dp_for_${paymentIntent}`,
    object: "dispute",
    amount,
    currency: "usd",
    charge: `ch_for_${paymentIntent}`,
    payment_intent: paymentIntent,
    reason: "fraudulent",
    status,
  };
}

/** POSTs a signed event to the gateway's webhook endpoint. */
export async function deliver(baseUrl: string, payload: string, signature?: string): Promise<Response> {
  const sig = signature ?? (await signStripe(payload));
  return fetch(`${baseUrl}/webhooks/stripe`, {
    method: "POST",
    headers: { "content-type": "application/json; charset=utf-8", "stripe-signature": sig },
    body: payload,
  });
}

/** Env that points a spawned gateway's Stripe client at this fake. */
export function stripeEnv(fake: FakeStripe): Record<string, string> {
  return {
    STRIPE_SECRET_KEY: STRIPE_KEY,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_HOST: "127.0.0.1",
    STRIPE_API_PORT: String(fake.port),
    STRIPE_API_PROTOCOL: "http",
  };
}
