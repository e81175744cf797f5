/**
 * After the upgrade that recorded upstream keys by a stable id: stored responses and items
 * recorded before it name their key by position (`fake#1`), those made after by id
 * (`fake#k<hash>`). A request naming both, all on the one key (a conversation continued across
 * the upgrade, managed with item references), is served: keys are compared by what they name,
 * not by how they were written. Items on two different keys are still refused.
 */
import { Database } from "bun:sqlite";
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fakeCatalogue } from "./support/fake-upstream";
import { startGateway } from "./support/gateway";

setDefaultTimeout(30_000);

const response = (id: string) => ({
  id, object: "response", created_at: 1, model: "grok-4", status: "completed",
  output: [{ type: "message", id: `msg_${id}`, role: "assistant", status: "completed", content: [{ type: "output_text", text: "hi", annotations: [] }] }],
  usage: { input_tokens: 5, output_tokens: 3, total_tokens: 8 },
});
const up = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(req) {
    await req.arrayBuffer();
    return Response.json(response(`resp_${crypto.randomUUID().replaceAll("-", "")}`));
  },
});
const dir = mkdtempSync(join(tmpdir(), "tollgate-mixed-pins-"));
afterAll(() => {
  up.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

test("items recorded by position before the upgrade and by id after it, on one key, go in one request", async () => {
  const dbPath = join(dir, "g.db");
  const config = { ...fakeCatalogue(`http://127.0.0.1:${up.port}/v1`), retry: { max_attempts: 1 } };
  const before = await startGateway({ config, dbPath });
  const c = await before.customer(10_000_000);
  const post = (url: string, body: unknown) =>
    fetch(`${url}/v1/responses`, { method: "POST", headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  const r1 = (await (await post(before.url, { model: "grok-4", input: "hi", max_output_tokens: 50 })).json()) as { id: string };
  await before.runtime.deps.credits.flush?.();
  await before.stop();
  // As the release before stable ids recorded them: by the key's position.
  const db = new Database(dbPath);
  db.run("UPDATE upstream_objects SET target = 'fake#1'");
  db.close();

  const after = await startGateway({ config, dbPath });
  try {
    const r2 = (await (await post(after.url, { model: "grok-4", input: "more", previous_response_id: r1.id, max_output_tokens: 50 })).json()) as { id: string };
    const both = await post(after.url, {
      model: "grok-4",
      max_output_tokens: 50,
      input: [{ type: "item_reference", id: `msg_${r1.id}` }, { type: "item_reference", id: `msg_${r2.id}` }, { role: "user", content: "and then?" }],
    });
    expect(both.status).toBe(200);
    // Recorded on a key that is not the one configured: still apart, as before.
    const apart = new Database(dbPath);
    apart.run("UPDATE upstream_objects SET target = 'fake#k000000000000' WHERE id = ?", [`msg_${r1.id}`]);
    apart.close();
    const refused = await post(after.url, {
      model: "grok-4",
      max_output_tokens: 50,
      input: [{ type: "item_reference", id: `msg_${r2.id}` }, { type: "item_reference", id: `msg_${r1.id}` }],
    });
    expect(refused.status).toBe(404);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain("cannot be used in one request");
  } finally {
    await after.stop();
  }
});
