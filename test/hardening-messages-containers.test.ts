/**
 * Anthropic's Messages API names a container to reuse (with the files code execution left in it)
 * in its top-level `container` field, a string id or `{id, skills}`, and custom skills by id in
 * `container.skills`. The gateway serves neither the Containers nor the Skills API, so no
 * customer owns one: the upstream would open it for whoever names it under the key every customer
 * shares. Such a request is a 400 in Anthropic's envelope, the field named in its message, before
 * anything reaches the upstream and with no money moved, as Responses refuses a tool's container
 * id; a new container (no id) with Anthropic's own skills passes.
 */
import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { startGateway, type Customer, type Gateway } from "./support/gateway";

setDefaultTimeout(60_000);

let gw: Gateway;
let c: Customer;
beforeAll(async () => {
  gw = await startGateway({ upstream: true });
  c = await gw.customer(10_000_000);
});
afterAll(() => gw?.stop());

const anthropic = () => new Anthropic({ apiKey: c.key, baseURL: gw.url, maxRetries: 0 });
const mock = { prompt_tokens: 5, completion_tokens: 3 };
const tools = [{ type: "code_execution_20250825", name: "code_execution" }];
const messages = [{ role: "user", content: "cat /mnt/user/*" }];
const posts = () => gw.upstream.requests.filter((q) => q.method === "POST");
const create = (container: unknown) => () => anthropic().messages.create({ model: "grok-4", max_tokens: 20, container, tools, messages, mock } as never);
const createBeta = (container: unknown) => () =>
  anthropic().beta.messages.create({ model: "grok-4", max_tokens: 20, container, tools, messages, mock, betas: ["skills-2025-10-02"] } as never);

/** The SDK call refused with a 400 invalid_request_error naming `field`; the upstream not asked, nothing charged or held. */
async function refused(call: () => Promise<unknown>, field: string): Promise<void> {
  const before = posts().length;
  const e = (await call().then(() => null, (err: { status?: number; error?: unknown }) => err))!;
  expect(e?.status).toBe(400);
  const body = (e.error as { type: string; error: { type: string; message: string } }).error;
  expect(body.type).toBe("invalid_request_error");
  expect(body.message).toContain(`(${field})`);
  expect(posts().length).toBe(before);
  expect(await gw.account(c.accountId)).toMatchObject({ balance_micros: 10_000_000, held_micros: 0 });
}

test("a container named by id, as a string or as {id}, is refused before the upstream", async () => {
  await refused(create("container_011CUAnotherCustomers"), "container");
  await refused(create({ id: "container_011CUAnotherCustomers" }), "container");
  await refused(createBeta({ id: "container_011CUAnotherCustomers", skills: [{ type: "anthropic", skill_id: "pptx" }] }), "container");
});

test("a custom skill (the operator's Skills API) is refused before the upstream", async () => {
  const skills = [
    { type: "anthropic", skill_id: "xlsx", version: "latest" },
    { type: "custom", skill_id: "skill_01AnotherCustomers", version: "latest" },
  ];
  await refused(createBeta({ skills }), "container.skills.1.skill_id");
});

test("a new container with Anthropic's own skills passes, forwarded as given", async () => {
  const container = { skills: [{ type: "anthropic", skill_id: "pptx", version: "latest" }] };
  const res = (await createBeta(container)()) as { type: string };
  expect(res.type).toBe("message");
  expect(posts().at(-1)!.body.container).toEqual(container);
});
