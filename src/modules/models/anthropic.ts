import type { Model } from "../../config/load";
import { errors } from "../../lib/errors";

/**
 * Anthropic's SDKs list models at the same GET /v1/models, in their own shape, and always send
 * `anthropic-version`: that header chooses the shape (and the error envelope, plugins/errors.ts).
 */
export const fromAnthropicClient = (headers: Headers): boolean => headers.has("anthropic-version");

/**
 * Whether to answer in Anthropic's shape; if so, the request id also goes in `request-id`, the
 * header Anthropic's SDKs read (`_request_id`), as their errors carry it already.
 */
export function answersAnthropic(request: Request, set: { headers: Record<string, unknown> }): boolean {
  if (!fromAnthropicClient(request.headers)) return false;
  const id = set.headers["x-request-id"];
  if (typeof id === "string") set.headers["request-id"] = id;
  return true;
}

/**
 * Anthropic's model object. The gateway keeps no display name (the id stands in), no capability
 * table and no retirement dates (null, as Anthropic's API leaves what it does not know).
 */
export function anthropicModel(m: Model) {
  return {
    type: "model" as const,
    id: m.id,
    display_name: m.id,
    created_at: new Date(m.created * 1000).toISOString(),
    max_input_tokens: m.context_window,
    max_tokens: m.max_output_tokens,
    capabilities: null,
    lifecycle: "active" as const,
    line: null,
    deprecated_at: null,
    retires_at: null,
  };
}

export interface AnthropicPageQuery {
  limit?: number;
  after_id?: string;
  before_id?: string;
}

/** One page of Anthropic's cursor paging (after_id / before_id, limit 1–1000, default 20), in the catalogue's order. */
export function anthropicModelPage(models: readonly Model[], q: AnthropicPageQuery) {
  const limit = q.limit ?? 20;
  const at = (param: "after_id" | "before_id", id: string) => {
    const i = models.findIndex((m) => m.id === id);
    if (i < 0) throw errors.badRequest(`${param}: no model ${JSON.stringify(id)} in this list`, param);
    return i;
  };
  let start = 0;
  let end = models.length;
  if (q.before_id !== undefined) {
    end = at("before_id", q.before_id);
    start = Math.max(0, end - limit);
  } else {
    if (q.after_id !== undefined) start = at("after_id", q.after_id) + 1;
    end = Math.min(models.length, start + limit);
  }
  const data = models.slice(start, end).map(anthropicModel);
  const hasMore = q.before_id !== undefined ? start > 0 : end < models.length;
  return { data, has_more: hasMore, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}
