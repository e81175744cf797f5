/**
 * An upstream answer with a content-length beside transfer-encoding: chunked is framed by its
 * chunks (RFC 9112 6.3): Bun's fetch keeps the content-length header but reads the chunked body
 * whole, so the length cannot be trusted for the bound. Such an answer, compressed or not, is read
 * chunk by chunk and cut at max_answer_bytes like one of no declared length (a 502
 * upstream_answer_too_large, nothing charged), however small the length it claims. A raw socket
 * plays the upstream: Bun.serve would not send both headers.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import net from "node:net";
import { fakeCatalogue, SINGLE_SHOT } from "./support/fake-upstream";
import { startGateway, type Gateway } from "./support/gateway";
import { waitRow } from "./support/scripted-upstream";

setDefaultTimeout(30_000);
const MiB = 1024 * 1024;
const answer = (content: string) =>
  JSON.stringify({ id: "c1", object: "chat.completion", created: 1, model: "grok-4-0709", choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }], usage: { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 } });
let gzip = true;
const upstream = net.createServer((s) => {
  // The gateway drops the connection once it has cut the answer: a reset here is expected.
  s.on("error", () => {});
  let got = "";
  s.on("data", (d) => {
    got += d.toString("latin1");
    const head = got.indexOf("\r\n\r\n");
    if (head < 0) return;
    const len = Number(/content-length:\s*(\d+)/i.exec(got.slice(0, head))?.[1] ?? 0);
    if (got.length < head + 4 + len) return;
    s.removeAllListeners("data");
    const raw = Buffer.from(answer(" ".repeat(4 * MiB)));
    const body = gzip ? Buffer.from(Bun.gzipSync(raw)) : raw;
    const chunked = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from("\r\n0\r\n\r\n")]);
    s.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n${gzip ? "content-encoding: gzip\r\n" : ""}content-length: 10\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n`);
    s.end(chunked);
  });
});
let gw: Gateway;
beforeAll(async () => {
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const port = (upstream.address() as net.AddressInfo).port;
  gw = await startGateway({ config: { ...fakeCatalogue(`http://127.0.0.1:${port}/v1`, "openai"), ...SINGLE_SHOT, max_answer_bytes: MiB } });
});
afterAll(async () => {
  await gw?.stop();
  upstream.close();
});

async function ask() {
  const c = await gw.customer(10_000_000);
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "hi" }], max_tokens: 100 }),
  });
  const text = await res.text();
  const code = res.status === 200 ? null : ((JSON.parse(text) as { error?: { code?: string } }).error?.code ?? null);
  const row = await waitRow(gw, res.headers.get("x-request-id")!);
  return { status: res.status, code, bodyBytes: text.length > MiB ? "over max_answer_bytes" : "within", charged: row?.cost_micros ?? null };
}

test("a gzip answer whose content-length lies (chunked body) is still cut at max_answer_bytes", async () => {
  gzip = true;
  expect(await ask()).toEqual({ status: 502, code: "upstream_answer_too_large", bodyBytes: "within", charged: 0 });
});

test("an identity answer whose content-length lies (chunked body) is still cut at max_answer_bytes", async () => {
  gzip = false;
  expect(await ask()).toEqual({ status: 502, code: "upstream_answer_too_large", bodyBytes: "within", charged: 0 });
});
