import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { bypassesProxy, connectAddress, egressProxies } from "../src/gateway/upstream/connect-check";
import { chat, user } from "./support/chat";
import { startGateway } from "./support/gateway";

/**
 * Behind an egress proxy (HTTP_PROXY / HTTPS_PROXY, which Bun's fetch honours) the upstream may be
 * reachable through the proxy only. The connect check made before a host is first used must then
 * dial the proxy, not the upstream host, or every request would be a 502 upstream_unreachable
 * although the request itself would get through. NO_PROXY is honoured as Bun's fetch does.
 */
setDefaultTimeout(30_000);

describe("which address the connect check dials", () => {
  const env = { HTTPS_PROXY: "http://proxy.corp:3128", http_proxy: "egress.corp:8080", NO_PROXY: "localhost, .internal.example, svc.local:8443,[::1]" };
  const p = egressProxies(env);

  test("https base URLs go through https_proxy, http ones through http_proxy (a bare host:port is http)", () => {
    expect(connectAddress("https://api.x.ai/v1", p)).toEqual({ hostname: "proxy.corp", port: 3128 });
    expect(connectAddress("http://10.0.0.5:8000/v1", p)).toEqual({ hostname: "egress.corp", port: 8080 });
    expect(connectAddress("https://api.x.ai/v1", egressProxies({ HTTP_PROXY: "http://egress.corp:8080" }))).toEqual({ hostname: "api.x.ai", port: 443 });
    expect(connectAddress("https://api.x.ai/v1", egressProxies({}))).toEqual({ hostname: "api.x.ai", port: 443 });
    // Lower case wins, as in Bun's fetch; an empty or unreadable value is no proxy.
    expect(egressProxies({ https_proxy: "http://a:1", HTTPS_PROXY: "http://b:2" }).https).toEqual({ hostname: "a", port: 1 });
    expect(egressProxies({ HTTPS_PROXY: "", HTTP_PROXY: "http://[bad" })).toEqual({ http: null, https: null, noProxy: [] });
  });

  test("NO_PROXY: exact hosts, domains with or without a leading dot, host:port, IPv6, and *", () => {
    expect(connectAddress("http://localhost:9000/v1", p)).toEqual({ hostname: "localhost", port: 9000 });
    expect(connectAddress("https://llm.internal.example/v1", p)).toEqual({ hostname: "llm.internal.example", port: 443 });
    expect(connectAddress("https://internal.example/v1", p)).toEqual({ hostname: "internal.example", port: 443 });
    expect(connectAddress("https://notinternal.example/v1", p)).toEqual({ hostname: "proxy.corp", port: 3128 });
    expect(connectAddress("https://svc.local:8443/v1", p)).toEqual({ hostname: "svc.local", port: 8443 });
    expect(connectAddress("https://svc.local/v1", p)).toEqual({ hostname: "proxy.corp", port: 3128 });
    expect(connectAddress("http://[::1]:8000/v1", p)).toEqual({ hostname: "::1", port: 8000 });
    const at = (hostname: string, port = 443) => ({ hostname, port });
    expect(bypassesProxy(at("api.x.ai"), ["*"])).toBe(true);
    expect(bypassesProxy(at("api.x.ai"), ["x.ai"])).toBe(true);
    expect(bypassesProxy(at("api.x.ai"), ["*.x.ai"])).toBe(true);
    expect(bypassesProxy(at("api.x.ai"), ["i.x.ai", "ai.x"])).toBe(false);
    expect(bypassesProxy(at("API.X.AI"), ["api.x.ai:443"])).toBe(true);
    expect(bypassesProxy(at("api.x.ai"), ["api.x.ai:80"])).toBe(false);
  });
});

describe("an upstream reachable only through HTTP_PROXY", () => {
  const answer = { id: "c1", object: "chat.completion", model: "grok-4-0709", choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }], usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 } };
  const seen: string[] = [];
  // The egress proxy: the only way out. It answers for the absolute URL it is asked for.
  const proxy = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => (seen.push(req.url), Response.json(answer)) });
  const names = ["HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"] as const;
  const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]));
  beforeAll(() => {
    for (const n of names) delete process.env[n];
    process.env.HTTP_PROXY = `http://127.0.0.1:${proxy.port}`;
    // The test's own calls to the gateway go direct.
    process.env.NO_PROXY = "127.0.0.1,localhost";
  });
  afterAll(() => {
    proxy.stop(true);
    for (const n of names) if (saved[n] === undefined) delete process.env[n];
    else process.env[n] = saved[n];
  });

  test("is served: the connect check dials the proxy, and the request goes through it", async () => {
    const g = await startGateway({
      config: {
        providers: [{ id: "xai", base_url: "http://upstream.tollgate-test.invalid/v1", kind: "xai", api_key: "xai-proxiedkey0001" }],
        models: [{ id: "grok-4", provider: "xai", upstream_model: "grok-4-0709", input_price: 3, output_price: 15, max_output_tokens: 1000 }],
        retry: { max_attempts: 1 },
      },
    });
    try {
      const c = await g.customer(10_000_000);
      const res = await chat(g.url, c.key, { model: "grok-4", messages: user() });
      const text = await res.text();
      expect({ status: res.status, seen }).toEqual({ status: 200, seen: ["http://upstream.tollgate-test.invalid/v1/chat/completions"] });
      expect(JSON.parse(text).choices[0].message.content).toBe("hi");
    } finally {
      await g.stop();
    }
  });
});
