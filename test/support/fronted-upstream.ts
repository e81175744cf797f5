/** A gateway whose upstream is the fake one behind an ingress a test scripts. */
import { afterAll, beforeAll } from "bun:test";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./fake-upstream";
import { startGateway, type Gateway, type TestClock } from "./gateway";

/** What the ingress answers itself (a route 404, a huge body); null passes the request on to the fake upstream. */
export type Ingress = (req: Request, u: URL) => Response | null | Promise<Response | null>;

/**
 * For a whole test file: the fake upstream, an ingress in front of it (`answer`) and a gateway
 * whose provider is the ingress, made before the file's tests (`set` receives them) and stopped
 * after them.
 */
export function onFrontedGateway(answer: Ingress, set: (g: Gateway, up: MockUpstream) => void, opts: { clock?: TestClock; config?: Record<string, unknown> } = {}): void {
  let up: MockUpstream | undefined;
  let front: ReturnType<typeof Bun.serve> | undefined;
  let g: Gateway | undefined;
  beforeAll(async () => {
    const upstream = (up = startFakeUpstream());
    front = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        const u = new URL(req.url);
        const own = await answer(req, u);
        if (own) return own;
        const body = req.method === "GET" || req.method === "DELETE" ? undefined : await req.arrayBuffer();
        return fetch(`${upstream.url}${u.pathname}${u.search}`, { method: req.method, headers: req.headers, body });
      },
    });
    g = await startGateway({ clock: opts.clock, config: { ...fakeCatalogue(`http://127.0.0.1:${front.port}/v1`), ...SINGLE_SHOT, ...opts.config } });
    set(g, upstream);
  });
  afterAll(async () => {
    await g?.stop();
    front?.stop(true);
    await up?.stop();
  });
}
