import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { launchBrowser, type Browser } from "./support/browser";
import { startGateway, type Gateway } from "./support/gateway";

/**
 * The official OpenAI SDK in a real browser (Chromium), on a page of another origin, calling the
 * gateway with only `baseURL` changed: non-streaming, streaming and an error, with the request id
 * readable. The browser enforces CORS itself, so a gateway that does not list the page's origin
 * must fail the same calls.
 */
setDefaultTimeout(120_000);
let browser: Browser;
let page: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  // The SDK bundled for the browser, as a page would ship it.
  const built = await Bun.build({ entrypoints: [join(import.meta.dir, "support/openai-browser.ts")], target: "browser", minify: true });
  if (!built.success) throw new Error(`bundling the OpenAI SDK failed: ${built.logs.join("\n")}`);
  const sdk = await built.outputs[0]!.text();
  page = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req) =>
      new URL(req.url).pathname === "/sdk.js"
        ? new Response(sdk, { headers: { "content-type": "text/javascript" } })
        : new Response('<!doctype html><title>app</title><script src="/sdk.js"></script>', { headers: { "content-type": "text/html" } }),
  });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  page?.stop(true);
});

interface PageResult {
  text?: string;
  totalTokens?: number;
  requestId?: string | null;
  streamed?: string;
  streamUsage?: number;
  errorStatus?: number;
  errorCode?: string;
  errorRequestId?: string;
  failure?: string;
}

/** Runs the three SDK calls inside the page, against `baseURL`. */
async function runInPage(baseURL: string, apiKey: string): Promise<PageResult> {
  const context = await browser.newContext();
  try {
    const tab = await context.newPage();
    await tab.goto(`http://127.0.0.1:${page.port}/`);
    return await tab.evaluate(
      async ({ baseURL, apiKey }) => {
        const OpenAI = (globalThis as unknown as { OpenAI: new (o: object) => any }).OpenAI;
        const client = new OpenAI({ baseURL, apiKey, dangerouslyAllowBrowser: true, maxRetries: 0 });
        const out: Record<string, unknown> = {};
        try {
          const { data, response } = await client.chat.completions
            .create({ model: "grok-4", messages: [{ role: "user", content: "Hello from a page" }] })
            .withResponse();
          out.text = data.choices[0].message.content;
          out.totalTokens = data.usage.total_tokens;
          out.requestId = response.headers.get("x-request-id");
          let streamed = "";
          const stream = await client.chat.completions.create({
            model: "grok-4",
            stream: true,
            stream_options: { include_usage: true },
            messages: [{ role: "user", content: "Stream to a page" }],
          });
          for await (const chunk of stream) {
            streamed += chunk.choices[0]?.delta?.content ?? "";
            if (chunk.usage) out.streamUsage = chunk.usage.total_tokens;
          }
          out.streamed = streamed;
          const bad = new OpenAI({ baseURL, apiKey: "sk-tg-wrong", dangerouslyAllowBrowser: true, maxRetries: 0 });
          try {
            await bad.models.list();
          } catch (e) {
            const err = e as { status?: number; code?: string; requestID?: string };
            out.errorStatus = err.status;
            out.errorCode = err.code;
            out.errorRequestId = err.requestID;
          }
        } catch (e) {
          out.failure = `${(e as Error).constructor.name}: ${(e as Error).message}`;
        }
        return out;
      },
      { baseURL, apiKey },
    );
  } finally {
    await context.close();
  }
}

describe("the OpenAI SDK in a browser page", () => {
  test("calls a gateway that allows any origin: answers, streams and errors all readable", async () => {
    const g = await startGateway({ upstream: true });
    try {
      const { key } = await g.customer();
      const r = await runInPage(`${g.url}/v1`, key);
      expect(r.failure).toBeUndefined();
      expect(r.text!.length).toBeGreaterThan(0);
      expect(r.totalTokens).toBeGreaterThan(0);
      expect(r.requestId).toMatch(/^req_/);
      expect(r.streamed!.length).toBeGreaterThan(0);
      expect(r.streamUsage).toBeGreaterThan(0);
      expect(r.errorStatus).toBe(401);
      expect(r.errorCode).toBe("invalid_api_key");
      expect(r.errorRequestId).toMatch(/^req_/);
      // The browser logs the 401 it was asked to provoke; anything else (a CORS refusal) is a failure.
      expect(browser.errors.filter((e) => !e.includes("status of 401"))).toEqual([]);
    } finally {
      await g.stop();
    }
  });

  test("is refused by the browser when the gateway lists other origins only", async () => {
    const g = await startGateway({ upstream: true, config: { cors_origins: ["https://elsewhere.example"] } });
    try {
      const { key } = await g.customer();
      const r = await runInPage(`${g.url}/v1`, key);
      expect(r.failure).toMatch(/Connection error/);
      expect(r.text).toBeUndefined();
      expect(browser.errors.join("\n")).toContain("CORS policy");
    } finally {
      await g.stop();
      browser.errors.length = 0;
    }
  });
});
