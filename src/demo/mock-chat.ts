/**
 * POST /chat/completions (JSON, SSE, deferred), GET /chat/deferred-completion/{id} and the legacy
 * POST /completions, OpenAI-shaped as xAI serves them.
 */
import { clampOutput, mockUsage, promptTokensOf, type MockBehavior, type MockUsage } from "./mock-behavior";
import { type MockCall, json, notFound, replyOf } from "./mock-state";
import { type Reply, type SseScript, dataOnly, fullText, sseResponse, tokenText } from "./mock-stream";

/** Like a real model, the output (reasoning included) never exceeds max_tokens per choice. */
function clampToMaxTokens(b: MockBehavior, body: Record<string, unknown>): MockBehavior {
  // Usage sums every choice, so with n choices the total may reach n × max_tokens.
  const limit = Number(body.max_completion_tokens ?? body.max_tokens ?? Number.POSITIVE_INFINITY) * Number(body.n ?? 1);
  return clampOutput(b, limit).b;
}

/** A chat completion shaped by the server's defaults and the request's `mock`. */
export function chatCompletions(call: MockCall): Response {
  const { st, body } = call;
  const b = clampToMaxTokens(call.b, body);
  const usage = b.usage === "none" ? undefined : mockUsage(b, body);
  if (body.deferred === true) return startDeferred(call, b, usage);
  const reply = replyOf(call, `chatcmpl-mock-${++st.seq}`);
  if (body.stream !== true) {
    call.close(false);
    return Response.json(completion(b, body, reply, usage), { headers: { "x-request-id": `upstream-${reply.id}` } });
  }
  const wantUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
  return sseResponse(b, chatScript(b, reply, wantUsage ? usage : undefined), reply, call.req.signal);
}

function completion(b: MockBehavior, body: Record<string, unknown>, reply: Reply, usage: MockUsage | undefined) {
  const text = fullText(b);
  const choices = Array.from({ length: Number(body.n ?? 1) }, (_, index) => ({
    index,
    message: { role: "assistant", content: text, refusal: null },
    logprobs: null,
    finish_reason: "stop",
  }));
  const { id, created, model } = reply;
  return { id, object: "chat.completion", created, model, choices, usage, system_fingerprint: "fp_mock" };
}

/** Role, a chunk per token, finish, usage (if asked), [DONE]. */
function chatScript(b: MockBehavior, reply: Reply, usage: MockUsage | undefined): SseScript {
  const { id, created, model } = reply;
  const event = (rest: { choices: unknown[]; usage?: MockUsage }) => dataOnly({ id, object: "chat.completion.chunk", created, model, ...rest });
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => event({ choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
  return {
    head: [() => chunk({ role: "assistant", content: "" })],
    tokens: b.completion_tokens ?? 12,
    token: (i) => chunk({ content: tokenText(b, i) }),
    tail: [() => chunk({}, "stop"), ...(usage ? [() => event({ choices: [], usage })] : []), () => "data: [DONE]\n\n"],
    malformed: 'data: {"id": "broken", "choices": [\n\n',
    fail: () => dataOnly({ error: { message: "mock stream failure", type: "server_error", param: null, code: "server_error" } }),
  };
}

/** `deferred: true`: the request id at once; the completion (as a JSON answer would be) is kept. */
function startDeferred(call: MockCall, b: MockBehavior, usage: MockUsage | undefined): Response {
  const requestId = crypto.randomUUID();
  const reply = replyOf(call, requestId);
  const now = Date.now();
  call.st.deferred.set(requestId, {
    completion: completion(b, call.body, reply, usage),
    readyAt: now + (b.deferred_ms ?? 200),
    forgetAt: b.deferred_forget_ms === undefined ? Number.POSITIVE_INFINITY : now + b.deferred_forget_ms,
  });
  return json(call, { request_id: requestId });
}

/** GET /chat/deferred-completion/{id}: 202 while pending, then the completion once (as xAI serves it), 404 after or once forgotten. */
export function deferredCompletion(call: MockCall): Response {
  const d = call.st.deferred.get(call.param);
  const now = Date.now();
  if (d && now >= d.forgetAt) call.st.deferred.delete(call.param);
  if (!d || now >= d.forgetAt) return notFound(call, `No deferred completion with request_id ${call.param}`);
  if (now < d.readyAt) {
    call.close(false);
    return new Response(null, { status: 202 });
  }
  call.st.deferred.delete(call.param);
  return json(call, d.completion);
}

/** The legacy prompt as text: a string, or an array of strings (or token lists). */
const promptText = (prompt: unknown) => (Array.isArray(prompt) ? prompt.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join("") : String(prompt ?? ""));

/** POST /completions: a text completion; `max_tokens` defaults to 16 (finish_reason "length" when it cuts). */
export function completions(call: MockCall): Response {
  const { st, body } = call;
  const { b, truncated } = clampOutput(call.b, Number(body.max_tokens ?? 16));
  const usage = b.usage === "none" ? undefined : mockUsage(b, body, b.prompt_tokens ?? promptTokensOf(promptText(body.prompt)));
  const reply = replyOf(call, `cmpl-mock-${++st.seq}`);
  const finish = truncated ? "length" : "stop";
  const { id, created, model } = reply;
  const base = { id, object: "text_completion", created, model };
  if (body.stream !== true) {
    const choices = [{ text: fullText(b), index: 0, logprobs: null, finish_reason: finish }];
    call.close(false);
    return Response.json({ ...base, choices, usage, system_fingerprint: "fp_mock" }, { headers: { "x-request-id": `upstream-${id}` } });
  }
  const wantUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
  const chunk = (text: string, finish_reason: string | null) => dataOnly({ ...base, choices: [{ text, index: 0, logprobs: null, finish_reason }] });
  const script: SseScript = {
    head: [],
    tokens: b.completion_tokens ?? 12,
    token: (i) => chunk(tokenText(b, i), null),
    tail: [() => chunk("", finish), ...(wantUsage && usage ? [() => dataOnly({ ...base, choices: [], usage })] : []), () => "data: [DONE]\n\n"],
    malformed: 'data: {"id": "broken", "choices": [\n\n',
    fail: () => dataOnly({ error: { message: "mock stream failure", type: "server_error", param: null, code: "server_error" } }),
  };
  return sseResponse(b, script, reply, call.req.signal);
}
