/** POST /images/generations and /images/edits: xAI's image answers, billed per image returned. */
import { costField } from "./mock-behavior";
import { type MockCall, hex, json, nowSeconds } from "./mock-state";

/** A 1×1 PNG, the image every b64_json answer carries. */
export const TINY_PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

export function images(call: MockCall): Response {
  const { b, body } = call;
  const n = Math.max(1, Math.floor(Number(body.n ?? 1)) || 1);
  const count = Math.max(0, Math.min(n, b.images_returned ?? n));
  const revised_prompt = `A mock rendering of: ${String(body.prompt ?? "")}`;
  const b64 = body.response_format === "b64_json";
  const data = Array.from({ length: count }, () =>
    b64 ? { b64_json: TINY_PNG_BASE64, mime_type: "image/png", revised_prompt } : { url: `https://mock.invalid/img/${hex(8)}.png`, mime_type: "image/png", revised_prompt },
  );
  const cost = b.usage === "none" ? {} : costField(b, { images: count }, body.model);
  return json(call, { created: nowSeconds(), data, ...("cost_in_usd_ticks" in cost && { usage: cost }) });
}
