/**
 * The error statuses the customer API routes answer, for the OpenAPI spec: generated clients and
 * readers see each one with its cause, not only a `default`. Each is shown in the route's error
 * envelope (runtime/api-docs.ts adds it: Anthropic's on /v1/messages, the OpenAI one elsewhere).
 */
type Described = Record<number, string>;

/** The statuses with their descriptions, as the spec's `responses` take them. */
export const errorAnswers = (statuses: Described): Record<string, { description: string }> =>
  Object.fromEntries(Object.entries(statuses).map(([status, description]) => [status, { description }]));

/** Before anything else a customer route does: the headers' size, the key, then its rate limits. */
export const KEY_ERRORS: Described = {
  431: "Request headers above 32 KiB",
  401: "No usable API key: missing, unknown, revoked or expired, or its account suspended",
  429: "Past the key's or account's rate limits (the x-ratelimit-* headers and retry-after say when)",
};

/** An upstream asked for something (translated as for the metered routes, never passed through). */
export const UPSTREAM_ERRORS: Described = {
  502: "The upstream failed: unreachable, an error of its own, a malformed answer or one larger than max_answer_bytes, or the upstream key that holds the object no longer configured",
  503: "The upstream is unavailable or overloaded (upstream_unavailable, upstream_overloaded; retry-after when it named a wait)",
  504: "The upstream did not answer in time (upstream_timeout)",
};

/** A stored object's id in the path: at most 200 characters. */
const BAD_ID = "An id longer than 200 characters, or a parameter the upstream refuses";

/** GET and DELETE /v1/responses/{id}, GET …/input_items: only the account (member) that created it may. */
export const storedResponseErrors = (refusesStream: boolean): Described => ({
  400: refusesStream ? `\`stream=true\` (unsupported_parameter, param \`stream\`: its events are not replayed); ${BAD_ID.toLowerCase()}` : BAD_ID,
  ...KEY_ERRORS,
  404: "Not a stored response of yours: unknown, another account's (or member's), or gone upstream (not_found, param `id`)",
  ...UPSTREAM_ERRORS,
});

/** GET /v1/chat/deferred-completion/{id}. */
export const DEFERRED_ERRORS: Described = {
  400: BAD_ID,
  ...KEY_ERRORS,
  404: "No deferred completion of yours with that id, or no longer kept (not_found, param `request_id`)",
  ...UPSTREAM_ERRORS,
};

/**
 * The metered POST routes (the one pipeline of gateway/route.ts): a free API (tokenize) is never
 * refused for credit; the Messages API answers an unavailable or overloaded upstream as 529.
 */
export function meteredErrors(o: { free?: boolean; anthropic?: boolean } = {}): Described {
  const unavailable = "The upstream is unavailable or overloaded, or the gateway is restarting or cannot record charges (retry-after when known)";
  const refused: Described = o.free ? {} : { 402: "The credit, the key's spend cap or a budget cannot cover the request's hold" };
  return {
    ...refused,
    400: "The body: not JSON, nested more than 128 deep or with more than 100,000 keys, a field refused (with `param`), or the upstream refusing it (its context length exceeded)",
    ...KEY_ERRORS,
    404: "The model is unknown or not allowed for the key, or a stored response the request continues is not yours",
    408: "The body did not arrive within timeouts.body_ms",
    413: "The body is larger than max_body_bytes, or the upstream finds the request too large",
    502: "The upstream failed before answering: unreachable, an error of its own, or a malformed answer or one larger than max_answer_bytes",
    ...(o.anthropic ? { 529: `overloaded_error: ${unavailable}` } : { 503: unavailable }),
    504: "The upstream did not answer in time",
  };
}
