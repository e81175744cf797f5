/**
 * The disk holding the database and its settlement journal fills up (a real ENOSPC, on a small
 * tmpfs). Once a charge fails to commit the gateway knows it cannot record charges, and it stops
 * admitting metered requests (503 `charges_failing`, retry-after, nothing sent upstream): served,
 * a stream would go out unpaid and a whole answer be paid upstream and thrown away. One request a
 * second is let in to try the storage again; once its charge commits, service resumes by itself.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import OpenAI from "openai";
import { chat, user } from "./support/chat";
import { startGateway, type Gateway } from "./support/gateway";
import { smallDisk } from "./support/small-disk";

setDefaultTimeout(60_000);
const disk = smallDisk(4);
let gw: Gateway;
beforeAll(async () => {
  if (disk.mounted) gw = await startGateway({ upstream: true, dbPath: join(disk.path, "tollgate.db") });
});
afterAll(async () => {
  await gw?.stop();
});

const mock = { prompt_tokens: 10, completion_tokens: 5 };

test("no metered request is served while charges cannot be recorded; service resumes once they can", async () => {
  if (!disk.mounted) return console.warn("skipped: this root may not mount");
  const c = await gw.customer(10_000_000);
  const ok = await chat(gw.url, c.key, { model: "grok-4", messages: user(), mock });
  expect(ok.status).toBe(200);
  const firstCharge = 10_000_000 - (await gw.account(c.accountId)).balance_micros;
  await Bun.sleep(300);
  disk.fill();
  // The first request after the disk filled: its charge fails (500, not charged), and the gateway knows it.
  expect((await chat(gw.url, c.key, { model: "grok-4", messages: user(), mock })).status).toBe(500);
  expect((await fetch(`${gw.url}/readyz`)).status).toBe(503);

  const upstreamBefore = gw.upstream!.requests.length;
  const s = await chat(gw.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: { prompt_tokens: 10, completion_tokens: 40 } });
  expect(s.status).toBe(503);
  expect(s.headers.get("retry-after")).toBe("1");
  expect(await s.json()).toMatchObject({ error: { type: "server_error", code: "charges_failing" } });
  const sdk = new OpenAI({ apiKey: c.key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  const e = await sdk.responses.create({ model: "grok-4", input: "hi", mock } as never).then(() => null, (err: { status?: number; code?: string }) => err);
  expect(e).toMatchObject({ status: 503, code: "charges_failing" });
  expect(gw.upstream!.requests.length).toBe(upstreamBefore);

  // The 500's hold release is retried at +1 s and +3 s, both failing; the next comes at +7 s.
  await Bun.sleep(3_300);
  // Room again: within about a second a request tries the storage, its charge commits, and every
  // request is served from then on (each charged once), before the waiting release's own retry.
  disk.free();
  let served = 0;
  for (const started = Date.now(); served < 3 && Date.now() - started < 2_500; ) {
    const r = await chat(gw.url, c.key, { model: "grok-4", messages: user(), mock });
    if (r.status === 200) served++;
    else {
      expect(r.status).toBe(503);
      await Bun.sleep(100);
    }
    await r.text();
  }
  expect(served).toBe(3);
  // Readiness tells of the release still waiting until its retry (at +7 s) writes it.
  for (const t0 = Date.now(); (await fetch(`${gw.url}/readyz`)).status !== 200 && Date.now() - t0 < 8_000; ) await Bun.sleep(100);
  expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);
  const account = await gw.account(c.accountId);
  expect(account).toMatchObject({ balance_micros: 10_000_000 - 4 * firstCharge, held_micros: 0 });
});
