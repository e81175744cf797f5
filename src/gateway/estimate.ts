/** Tokens assumed for an image part (xAI and OpenAI bill a few hundred to ~1,800 per image). */
const IMAGE_TOKENS = 3000;
/** What an image part is realistically billed, for estimates when the upstream reports no usage. */
const IMAGE_ESTIMATE_TOKENS = 1000;
const PER_MESSAGE = 8;

/** The parts that carry an image, inline or by URL: a computer tool's screenshot is one too. */
const IMAGE_PARTS = new Set(["image_url", "input_image", "image", "computer_screenshot"]);
export const isImagePart = (o: Record<string, unknown>) => IMAGE_PARTS.has(o.type as string);

/** A chat request's prompt: its messages and what else the model reads (tool and function definitions, the response format). */
type ChatPrompt = { messages: unknown[]; tools?: unknown; functions?: unknown; response_format?: unknown };
const chatExtras = (body: ChatPrompt) => [body.tools, body.functions, body.response_format];

/**
 * Upper bound of prompt tokens, for the hold: BPE tokenizers never emit more tokens than UTF-8
 * bytes, so byte counts are safe; images count a fixed generous amount instead of their base64.
 */
export function promptUpperBound(body: ChatPrompt): number {
  return upperBoundOf(body.messages, chatExtras(body));
}

/**
 * Both prompt figures of a request, over the same parts: the hold's bound and the estimate
 * charged when no usage comes. Given one list of parts, the estimate cannot leave out what the
 * bound counts (instructions, system, tool definitions), which would let a stream cut before
 * its usage pay for a fraction of its prompt.
 */
export function promptSizes(items: readonly unknown[], extras: readonly unknown[] = []): { promptUpper: number; promptEstimate: number } {
  return { promptUpper: upperBoundOf(items, extras), promptEstimate: estimateOf(items, extras) };
}

/** The same for any API: its messages (or input items), each with a message's overhead, and what else it sends. */
export function upperBoundOf(items: readonly unknown[], extras: readonly unknown[] = []): number {
  let total = 0;
  for (const m of items) total += PER_MESSAGE + weigh(m);
  for (const extra of extras) if (extra) total += weigh(extra);
  return total;
}

function weigh(v: unknown): number {
  if (typeof v === "string") return utf8Length(v);
  if (Array.isArray(v)) {
    let s = 0;
    for (const x of v) s += weigh(x);
    return s;
  }
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (isImagePart(o)) return IMAGE_TOKENS;
    let s = 0;
    for (const k in o) if (Object.hasOwn(o, k)) s += utf8Length(k) + weigh(o[k]);
    return s;
  }
  return typeof v === "number" || typeof v === "boolean" ? 2 : 0;
}

/** UTF-8 byte length; short ASCII strings (keys, roles) are counted without a native call. */
function utf8Length(s: string): number {
  if (s.length > 32) return Buffer.byteLength(s);
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s);
  return s.length;
}

/**
 * A realistic estimate for when the upstream reports no usage: about four UTF-8 bytes a token,
 * which is four characters of English and about 0.75 token a Chinese or Japanese character
 * (tokenizers make about one of those a token: four characters a token charged a quarter).
 */
export function estimateTokens(text: string): number {
  return text.length === 0 ? 0 : Math.ceil(utf8Length(text) / 4);
}

/** The same rule over a count of UTF-8 bytes (a body refused before its prompt was read). */
export const estimateBytes = (bytes: number): number => Math.ceil(bytes / 4);

export function promptEstimate(body: ChatPrompt): number {
  return estimateOf(body.messages, chatExtras(body));
}

/**
 * A realistic prompt estimate of messages (or input items), each with a message's overhead, and
 * what else the request sends: four UTF-8 bytes a token, as estimateTokens. Never above the
 * hold's bound, which counts every byte of the same parts.
 */
export function estimateOf(items: readonly unknown[], extras: readonly unknown[] = []): number {
  return Math.ceil((textBytes(items) + textBytes(extras)) / 4) + 4 * items.length;
}

/** Keys whose value is a JSON schema (tool parameters, structured output): the model reads its keys too. */
const SCHEMA_KEYS = new Set(["parameters", "input_schema", "schema"]);

/**
 * UTF-8 bytes of text in a value (its strings; an image as what it is realistically billed). Keys
 * and numbers are structure, except inside a JSON schema, whose property names and keywords the
 * model reads as its text.
 */
function textBytes(v: unknown, schema = false): number {
  if (typeof v === "string") return utf8Length(v);
  let bytes = 0;
  if (Array.isArray(v)) for (const x of v) bytes += textBytes(x, schema);
  else if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (isImagePart(o)) return 4 * IMAGE_ESTIMATE_TOKENS;
    for (const k in o) {
      if (!Object.hasOwn(o, k)) continue;
      if (schema) bytes += utf8Length(k);
      bytes += textBytes(o[k], schema || SCHEMA_KEYS.has(k));
    }
  } else if (schema && (typeof v === "number" || typeof v === "boolean")) bytes += 2;
  return bytes;
}
