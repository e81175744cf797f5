/**
 * The credit codes and the payments page by the same cursor, read by one reader (src/lib/cursor.ts):
 * a `before` that is no cursor is the same 400 on every such list, never a page read as if it were.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startGateway, type Gateway } from "./support/gateway";

let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway();
});
afterAll(() => gw?.stop());

const NOT_A_CURSOR = {
  error: {
    message: "Invalid query parameter 'before': not a cursor from a previous page (give back its next_cursor).",
    type: "invalid_request_error",
    param: "before",
    code: null,
  },
};

const LISTS = ["/admin/codes", "/admin/payments"];

/** Each list's answer to `before`: status and body. */
async function answers(before: string): Promise<{ list: string; status: number; body: unknown }[]> {
  return Promise.all(
    LISTS.map(async (list) => {
      const res = await gw.admin(`${list}?before=${encodeURIComponent(before)}`);
      return { list, status: res.status, body: await res.json() };
    }),
  );
}

// A time beyond a safe integer would be rounded, an id no row has is from no page: each would be a
// page read from somewhere else than asked.
const BAD = ["9999999999999999:code_x", "1700000000000:code-x", "1700000000000:code_x:y", "yesterday", "-5", ":code_x", "1.5", "99999999999999999999:pay_x", "1700000000000:"];

test("a before that is no cursor is a 400 from the codes and the payments", async () => {
  const statuses = [];
  for (const before of BAD) for (const a of await answers(before)) statuses.push(`${a.list}?before=${before} ${a.status}`);
  expect(statuses).toEqual(BAD.flatMap((before) => LISTS.map((list) => `${list}?before=${before} 400`)));
});

test("the same 400: one message, naming the parameter", async () => {
  for (const before of BAD) {
    expect({ before, answers: await answers(before) }).toEqual({ before, answers: LISTS.map((list) => ({ list, status: 400, body: NOT_A_CURSOR })) });
  }
});

test("a cursor from a page is read alike by both; a bare time only by the payments (their older form)", async () => {
  const made = (await (await gw.admin("/admin/codes", { body: { count: 3, amount_micros: 1_000_000 } })).json()) as { batch: string };
  const first = (await (await gw.admin(`/admin/codes?batch=${made.batch}&limit=1`)).json()) as { data: { id: string }[]; next_cursor: string };
  expect(first.next_cursor).toMatch(/^\d+:code_[0-9A-Za-z]+$/);
  const rest = (await (await gw.admin(`/admin/codes?batch=${made.batch}&before=${encodeURIComponent(first.next_cursor)}`)).json()) as { data: { id: string }[] };
  expect(rest.data).toHaveLength(2);
  expect(rest.data.map((c) => c.id)).not.toContain(first.data[0]!.id);
  // The payments read the same cursor (there are none here).
  expect((await gw.admin(`/admin/payments?before=${encodeURIComponent(first.next_cursor)}`)).status).toBe(200);

  const [codes, payments] = await answers(String(Date.now()));
  expect(codes).toEqual({ list: "/admin/codes", status: 400, body: NOT_A_CURSOR });
  expect(payments!.status).toBe(200);
});

test("the OpenAPI spec still documents `before` on both lists", async () => {
  type Op = { parameters: { name: string; schema: { type?: string; description?: string } }[] };
  const spec = (await (await fetch(`${gw.url}/openapi.json`)).json()) as { paths: Record<string, { get: Op }> };
  for (const list of LISTS) {
    const before = spec.paths[list]!.get.parameters.find((p) => p.name === "before");
    expect([list, before?.schema.type, before?.schema.description]).toEqual([list, "string", expect.stringContaining("`next_cursor`")]);
  }
});
