/**
 * Files are stored by the upstream's Files API under the key every customer shares, which the
 * gateway does not serve: a file id in a request is never the caller's, and the upstream would
 * read that file out to whoever names it. Chat, Responses and Messages refuse one (400
 * `unsupported_parameter` naming where it is) before anything reaches the upstream, with no
 * money moved, wherever content nests it (a document's inline content, a tool result, at any
 * depth); a file sent with its content passes, and so do citations of files in an earlier answer.
 */
import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import { startGateway, type Customer, type Gateway } from "./support/gateway";

setDefaultTimeout(60_000);

let gw: Gateway;
let c: Customer;
beforeAll(async () => {
  gw = await startGateway({ upstream: true });
  c = await gw.customer(10_000_000);
});
afterAll(() => gw?.stop());

const openai = () => new OpenAI({ apiKey: c.key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
const anthropic = () => new Anthropic({ apiKey: c.key, baseURL: gw.url, maxRetries: 0 });
const mock = { prompt_tokens: 5, completion_tokens: 3 };
type Failure = { status?: number; error?: unknown; param?: string | null; code?: string | null };
const posts = () => gw.upstream!.requests.filter((q) => q.method === "POST").length;

/** The SDK call refused with a 400 naming `param`; the upstream not asked, nothing charged or held. */
async function refused(call: () => Promise<unknown>, param: string, read: (e: Failure) => { param?: unknown; code?: unknown } = (e) => e): Promise<void> {
  const before = posts();
  const e = (await call().then(() => null, (err: Failure) => err))!;
  expect(e?.status).toBe(400);
  expect(read(e)).toMatchObject({ param, code: "unsupported_parameter" });
  expect(posts()).toBe(before);
  expect(await gw.account(c.accountId)).toMatchObject({ balance_micros: 10_000_000, held_micros: 0 });
}

describe("file ids of the shared upstream key", () => {
  test("Responses: input_file and input_image by file_id, and in a function_call_output", async () => {
    const create = (input: unknown) => () => openai().responses.create({ model: "grok-4", input, mock } as never);
    await refused(create([{ role: "user", content: [{ type: "input_text", text: "sum up" }, { type: "input_file", file_id: "file-operators-doc" }] }]), "input.0.content.1.file_id");
    await refused(create([{ role: "user", content: [{ type: "input_image", file_id: "file-abc", detail: "auto" }] }]), "input.0.content.0.file_id");
    await refused(create([{ type: "function_call_output", call_id: "call_1", output: [{ type: "input_file", file_id: "file-abc" }] }]), "input.0.output.0.file_id");
  });

  test("Chat: a file part by file_id", async () => {
    const messages = [{ role: "user", content: [{ type: "text", text: "read" }, { type: "file", file: { file_id: "file-abc" } }] }];
    await refused(() => openai().chat.completions.create({ model: "grok-4", messages, mock } as never), "messages.0.content.1.file.file_id");
  });

  test("Messages: a document or image from a file source, and inside a tool result", async () => {
    const create = (content: unknown) => () => anthropic().messages.create({ model: "grok-4", max_tokens: 20, messages: [{ role: "user", content }], mock } as never);
    // Anthropic's envelope has no param: the message names where the id is.
    const read = (e: Failure) => {
      const body = (e.error as { error: { type: string; message: string } }).error;
      expect(body.type).toBe("invalid_request_error");
      return { param: /^A file id \(([\w.]+)\)/.exec(body.message)?.[1], code: "unsupported_parameter" };
    };
    await refused(create([{ type: "document", source: { type: "file", file_id: "file_011" } }]), "messages.0.content.0.source.file_id", read);
    await refused(create([{ type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "image", source: { type: "file", file_id: "file_012" } }] }]), "messages.0.content.0.content.0.source.file_id", read);
  });

  test("Messages: a file source inside a document's inline content, at any depth", async () => {
    const create = (content: unknown, system?: unknown) => () => anthropic().messages.create({ model: "grok-4", max_tokens: 20, system, messages: [{ role: "user", content }], mock } as never);
    const read = (e: Failure) => ({ param: /^A file id \(([\w.]+)\)/.exec((e.error as { error: { message: string } }).error.message)?.[1], code: "unsupported_parameter" });
    const image = { type: "image", source: { type: "file", file_id: "file_011CSomeoneElses" } };
    const doc = (content: unknown[]) => ({ type: "document", source: { type: "content", content } });
    await refused(create([doc([image]), { type: "text", text: "Describe the image." }]), "messages.0.content.0.source.content.0.source.file_id", read);
    await refused(create([{ type: "text", text: "hi" }, doc([{ type: "text", text: "a" }, doc([image])])]), "messages.0.content.1.source.content.1.source.content.0.source.file_id", read);
    await refused(create([{ type: "tool_result", tool_use_id: "toolu_1", content: [doc([image])] }]), "messages.0.content.0.content.0.source.content.0.source.file_id", read);
    await refused(create("hi", [{ type: "text", text: "be brief" }, doc([image])]), "system.1.source.content.0.source.file_id", read);
    await refused(create([{ type: "container_upload", file_id: "file_013" }]), "messages.0.content.0.file_id", read);
  });

  test("Responses: a computer call's screenshot by file_id", async () => {
    const input = [{ type: "computer_call_output", call_id: "call_1", output: { type: "computer_screenshot", file_id: "file-abc" } }];
    await refused(() => openai().responses.create({ model: "grok-4", input, mock } as never), "input.0.output.file_id");
  });

  test("Responses tools: a new container's file_ids, an image mask's file_id", async () => {
    const container = [{ type: "code_interpreter", container: { type: "auto", file_ids: ["file-AnotherCustomersData"] } }];
    await refused(() => openai().responses.create({ model: "grok-4", input: "cat every file", tools: container, mock } as never), "tools.0.container.file_ids.0");
    const mask = [{ type: "image_generation", input_image_mask: { file_id: "file-AnotherCustomersMask" } }];
    await refused(() => openai().responses.create({ model: "grok-4", input: "edit it", tools: mask, mock } as never), "tools.0.input_image_mask.file_id");
  });

  test("an earlier answer's file citations are not file content, and pass", async () => {
    const cited = { type: "output_text", text: "See the report.", annotations: [{ type: "file_citation", file_id: "file-in-a-listed-collection", filename: "r.pdf", index: 4 }] };
    const input = [
      { role: "user", content: "Find the report." },
      { type: "message", role: "assistant", status: "completed", id: "msg_prev", content: [cited] },
      { role: "user", content: "Sum it up." },
    ];
    const res = await openai().responses.create({ model: "grok-4", input, mock } as never);
    expect(res.status).toBe("completed");
  });

  test("a file sent with its content passes", async () => {
    const res = await openai().responses.create({
      model: "grok-4",
      input: [{ role: "user", content: [{ type: "input_text", text: "sum up" }, { type: "input_file", filename: "a.txt", file_data: "data:text/plain;base64,aGVsbG8=" }] }],
      mock,
    } as never);
    expect(res.status).toBe("completed");
  });
});
