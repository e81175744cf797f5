import type { Deployment, Model } from "../../config/load";
import type { Tool } from "../../config/schema";
import type { ApiError } from "../../lib/errors";
import type { Usage } from "../../money/usage";
import type { Demand, HoldPlan } from "../hold";
import type { ProviderAdapter } from "../providers/adapters";
import type { StoredObjects } from "../stored-objects";
import type { Asker } from "../reach";

/** The APIs the gateway meters; each is a dialect of the one pipeline (proxy.ts). */
export type Endpoint = "chat.completions" | "completions" | "responses" | "messages" | "images.generations" | "images.edits" | "tokenize";

/** What a dialect's prepare() found: the upstream key to use, and stored content the request is billed again. */
export interface Prepared {
  /** The only upstream key the request may go to (the reference its stored objects recorded). */
  pin?: string;
  historyTokens?: number;
  /** The recorded sizes of the stored items the request names by id (item_reference), summed. */
  itemTokens?: number;
  /** It names an item recorded without a size (before sizes were kept): the hold assumes the largest prompt. */
  unsizedItems?: true;
}

export interface PrepareContext {
  /** The caller: objects it refers to must be its own (gateway/reach.ts). */
  principal: Asker;
  objects: StoredObjects;
  /** Whether two recorded key references name one configured key (else: compared as written). */
  sameKey?: (a: string, b: string) => boolean;
}

/** What every dialect's body has. */
export interface GatewayBody {
  model: string;
}

/** What building the upstream body for one deployment knows. */
export interface BodyContext {
  deployment: Deployment;
  adapter: ProviderAdapter;
  plan: HoldPlan;
  stream: boolean;
}

/** An object an answer created upstream for later reads (a stored response), and the items stored with it. */
export interface StoredRef {
  id: string;
  /** Its items' ids (a response's output items), which a later request may name (item_reference). */
  items: readonly string[];
}

/** A stored object the upstream no longer has: what the customer is told, and the record to drop (null: none known). */
export interface StoredGone {
  error: ApiError;
  forget: string | null;
}

/** A whole (non-streaming) answer, read. */
export interface WholeAnswer {
  /** The usage the upstream reported; null when it reported none (then estimated from `text`). */
  usage: Usage | null;
  /** What the answer stored upstream for later reads, if anything. */
  stored?: StoredRef | null;
  /** The upstream's id of a deferred completion (the answer comes later; the hold stays). */
  deferred?: string | null;
  /** The answer's text, for that estimate. */
  text(): string;
  /** Server-side tool calls the answer shows run, by tool (null: none): an answer without usage pays them too. */
  toolCalls?: Partial<Record<Tool, number>> | null;
  /** The body the customer gets: usage normalised, the upstream's cost replaced by the charge. */
  render(chargeMicros: number): string;
}

/** What a stream's tap knows of its request. */
export interface TapContext {
  adapter: ProviderAdapter;
  /** The client asked for usage in the stream (chat's stream_options.include_usage). */
  clientWantsUsage: boolean;
  /** The charge for a usage (to show the customer its own cost in the usage event). */
  price(u: Usage): number;
}

/**
 * What to do with one upstream event: `pass` forwards it as it came, `out` forwards a rewrite
 * instead, neither drops it; `done` ends the stream normally, with `final` (the terminal event,
 * sent only after the charge has committed); `error` ends it on the upstream's failure.
 */
export type TapResult = Readonly<{ pass?: true; out?: string; done?: true; final?: string; error?: "malformed" | "upstream" }>;

/** Reads a stream event by event: its usage and what it delivered. */
export interface EventTap {
  usage: Usage | null;
  deliveredTokens: number;
  ttftMs: number | null;
  handle(evt: string): TapResult;
  /** What the stream stored upstream for later reads, if anything. */
  readonly stored?: StoredRef | null;
  /** The prompt's usage when the stream reported it before its output (a cut stream pays it plus what was delivered). */
  inputUsage?: Usage | null;
  /**
   * Server-side tool calls the stream showed done (Responses' call items, Messages' tool results),
   * by tool; null when none. The upstream bills them: a stream cut before its usage pays them too.
   */
  readonly toolCalls?: Partial<Record<Tool, number>> | null;
  /** Sent (after the charge) when the upstream closed after its usage but without its terminal event. */
  readonly endEvent?: string;
  /**
   * Whether the answer is whole (chat: each choice finished, or the usage chunk came; Messages: a
   * stop_reason): an upstream that closes without its terminal event is then done, else cut
   * short, whatever usage it reported on the way. Absent: whole once usage came.
   */
  readonly complete?: boolean;
  /**
   * The answer is whole and only what follows it is still to come (chat: every choice finished;
   * Responses: every output item done; Messages: the stop reason): the usage, which a client
   * that leaves now still pays (the relay reads it before it lets the upstream go).
   */
  readonly answered?: boolean;
  /** The sequence number an event the gateway adds takes (APIs whose events are numbered: Responses). */
  nextSequence?(): number;
}

/**
 * One API: its request schema and hold estimate, how to build the upstream request, how to read
 * its usage (whole answers and streams), and its error shape. Everything else (admission,
 * upstream calls with retries and breakers, the stream relay, settlement) is the pipeline's.
 */
export interface Dialect<B extends GatewayBody = GatewayBody> {
  endpoint: Endpoint;
  /** Path under the provider's base URL. */
  path: string;
  /** The kind of model it serves (a chat model on the image route is a 404, and so on). */
  modelKind: Model["kind"];
  /** Never charged (tokenize): a key without credit may use it too. */
  free?: boolean;
  /**
   * A whole answer is passed on as read, neither parsed nor rendered again (a free API only:
   * nothing in it is charged). Tokenize's answer is an object per token, some 30 times its text.
   */
  verbatim?: boolean;
  /** The body, validated loosely (unknown fields forwarded): 400 with `param` when it is not. */
  parse(json: unknown): B;
  stream(body: B): boolean;
  /** Whether the client asked for usage in its stream (absent: always, the API's own events carry it). */
  clientWantsUsage?(body: B): boolean;
  /** What the request asks of the model, for the hold. */
  demand(body: B, ctx?: Prepared): Demand;
  /**
   * Before admission: references to objects stored upstream (a previous response) are checked
   * against the caller's account (404 otherwise) and pin the request to the upstream key that
   * holds them. Synchronous, like admission.
   */
  prepare?(body: B, ctx: PrepareContext): Prepared | Promise<Prepared>;
  upstreamBody(body: B, ctx: BodyContext): string;
  /**
   * An upstream 404 to a request naming stored objects (a previous response): the customer's 404
   * for the one it is about, and the id whose record to drop (gone upstream); null when the 404
   * is not about them.
   */
  storedGone?(body: B, upstreamMessage: string): StoredGone | null;
  /** Client headers that go upstream too (e.g. anthropic-version). */
  forwardHeaders?: readonly string[];
  /** A second header carrying the request id, where the API's SDKs read it (Anthropic: request-id). */
  requestIdHeader?: string;
  /** null: not an answer of this API (an error envelope sent with a 2xx, another API's shape): never charged. */
  whole(json: Record<string, unknown>, adapter: ProviderAdapter, body: B): WholeAnswer | null;
  /**
   * A whole answer (as rendered for the customer) to a request that asked for a stream, as this
   * API's stream events: some upstreams ignore `stream`, and an SDK reading SSE would get nothing.
   */
  wholeAsStream?(rendered: string, body: B): string;
  tap(ctx: TapContext): EventTap;
  /** The event a stream ends with when the gateway cuts it (timeout, broken upstream, shutdown). */
  errorEvent(message: string, code: string, tap?: EventTap): string;
  /** An error answer in this API's shape. */
  errorResponse(e: ApiError, headers: Record<string, string>): Response;
}

export type { Demand, HoldPlan };
