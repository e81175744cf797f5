/** POST /tokenize-text and the model lists: GET /models, /language-models, /image-generation-models. */
import { type MockCall, badRequest, json, notFound } from "./mock-state";

const enc = new TextEncoder();

/** A token id that is the same for the same text (FNV-1a, in a 17-bit vocabulary). */
function tokenId(s: string): number {
  let h = 0x811c9dc5;
  for (const byte of enc.encode(s)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h % 131072;
}

/** One token per word, with the whitespace before it (as xAI's tokens carry a leading space). */
export function tokenize(call: MockCall): Response {
  const text = call.body.text;
  if (typeof text !== "string") return badRequest(call, "text: a string is required");
  const words = text.match(/\s*\S+|\s+$/g) ?? [];
  return json(call, { token_ids: words.map((w) => ({ token_id: tokenId(w), string_token: w, token_bytes: [...enc.encode(w)] })) });
}

export const languageModels = (call: MockCall) => json(call, { models: call.st.models.language });
export const imageModels = (call: MockCall) => json(call, { models: call.st.models.image });

export function languageModel(call: MockCall): Response {
  const m = call.st.models.language.find((x) => x.id === call.param || x.aliases.includes(call.param));
  return m ? json(call, m) : notFound(call, `Model ${call.param} not found`);
}

export function imageModel(call: MockCall): Response {
  const m = call.st.models.image.find((x) => x.id === call.param || x.aliases.includes(call.param));
  return m ? json(call, m) : notFound(call, `Model ${call.param} not found`);
}

/** Every model, OpenAI-shaped. */
function modelObjects(call: MockCall) {
  return [...call.st.models.language, ...call.st.models.image].map((m) => ({ id: m.id, object: "model", created: m.created, owned_by: m.owned_by }));
}

export const models = (call: MockCall) => json(call, { object: "list", data: modelObjects(call) });

export function model(call: MockCall): Response {
  const m = modelObjects(call).find((x) => x.id === call.param);
  return m ? json(call, m) : notFound(call, `Model ${call.param} not found`);
}
