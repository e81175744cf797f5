import { afterAll, beforeAll } from "bun:test";
import { startGateway, type Gateway } from "./gateway";

/**
 * A gateway over an upstream that answers each request by its path (`answer`) after `delayMs`,
 * long enough for concurrent requests to be in flight together: provider "fake" (kind xai) with
 * `models`, one attempt per request. Started before the file's tests, stopped after; read `g`,
 * and `calls`, the requests the upstream got.
 */
export function gatewayOverAnswers(answer: (path: string) => Response, o: { delayMs: number; models: unknown[] }): { readonly g: Gateway; readonly calls: number } {
  const ctx = { calls: 0 } as { g: Gateway; calls: number; up: ReturnType<typeof Bun.serve> };
  beforeAll(async () => {
    ctx.up = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        await req.arrayBuffer();
        ctx.calls++;
        await Bun.sleep(o.delayMs);
        return answer(new URL(req.url).pathname);
      },
    });
    ctx.g = await startGateway({
      config: { providers: [{ id: "fake", base_url: `http://127.0.0.1:${ctx.up.port}/v1`, kind: "xai", api_key: "k" }], models: o.models, retry: { max_attempts: 1 } },
    });
  });
  afterAll(async () => {
    await ctx.g?.stop();
    ctx.up?.stop(true);
  });
  return ctx;
}
