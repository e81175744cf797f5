import { ApiError, errors } from "./errors";

/**
 * Bun's own body cap, out of reach: every limit is the gateway's, enforced on the bytes read (not
 * the declared length) and answered in the caller's error shape instead of Bun's bare 413.
 */
export const BUN_BODY_CAP = 2 ** 40;
/** Request headers above this many bytes are refused (431) in the caller's error shape. */
export const MAX_HEADER_BYTES = 32 * 1024;
/**
 * What an early answer still reads (and drops) of a body nobody wanted (see discardUnread): a
 * body of unknown length up to this much; one that declared its length, up to DISCARD_DECLARED.
 */
const DISCARD_BYTES = 2 * 1024 * 1024;
const DISCARD_DECLARED = 16 * 1024 * 1024;
const DISCARD_MS = 1_000;

/** 413 in the OpenAI envelope for a declared body above `limit` bytes (before reading any of it). */
export function refuseDeclaredOver(request: Request, limit: number): void {
  if (Number(request.headers.get("content-length") ?? 0) > limit) throw errors.tooLarge(limit);
}

/** 431 for headers larger than MAX_HEADER_BYTES (names and values). */
export function refuseLargeHeaders(request: Request): void {
  let bytes = 0;
  // One object of them all: iterating Headers makes a pair array per header.
  const all = request.headers.toJSON();
  for (const name in all) bytes += name.length + String(all[name]).length + 4;
  if (bytes > MAX_HEADER_BYTES) {
    throw new ApiError(431, `Request headers are larger than the limit of ${MAX_HEADER_BYTES} bytes.`, "invalid_request_error", "headers_too_large");
  }
}

/**
 * Reads a request body: at most `limit` bytes (413 beyond, reading stops there) within `timeoutMs`
 * (408 after, the connection is given up): a slow or endless body cannot pin the gateway.
 */
export function readBody(request: Request, limit: number, timeoutMs: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    if (Number(declared) > limit) return Promise.reject(errors.tooLarge(limit));
    // Within the limit: Bun reads exactly that much, natively. `request.body` is not touched:
    // it would build a stream object that this path never uses.
    return within(request.bytes(), timeoutMs);
  }
  if (!request.body) return Promise.resolve(new Uint8Array(0));
  return readChunks(request.body, limit, timeoutMs);
}

/** A body of undeclared length, chunk by chunk, counting the bytes as they come. */
async function readChunks(body: ReadableStream<Uint8Array>, limit: number, timeoutMs: number): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), timeoutMs)));
  try {
    for (;;) {
      const r = await Promise.race([reader.read(), late]);
      if (r === "late") {
        reader.cancel().catch(() => {});
        throw bodyTimeout(timeoutMs);
      }
      if (r.done) break;
      size += r.value.length;
      if (size > limit) {
        // The rest is for discardUnread (bounded), so that a proxy still sending it gets the 413.
        reader.releaseLock();
        throw errors.tooLarge(limit);
      }
      chunks.push(r.value);
    }
  } catch (e) {
    throw e instanceof ApiError ? e : errors.badRequest("The request body could not be read.");
  } finally {
    clearTimeout(timer);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/** The bytes, or a 408 once `timeoutMs` has passed (one promise and one timer: this is every request's path). */
function within(bytes: Promise<Uint8Array>, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(bodyTimeout(timeoutMs)), timeoutMs);
    bytes.then(
      (b) => {
        clearTimeout(timer);
        resolve(b);
      },
      (e) => {
        clearTimeout(timer);
        reject(e instanceof ApiError ? e : errors.badRequest("The request body could not be read."));
      },
    );
  });
}

/** The connection is closed after it: what is left of the body is not waited for. */
const bodyTimeout = (ms: number) =>
  new ApiError(408, `The request body did not arrive within ${Math.round(ms / 1000)} s.`, "invalid_request_error", "request_timeout", null, {
    connection: "close",
  });

/**
 * Reads and drops what is left of a body nobody read: an answer given early (401 before the
 * body is looked at, 404, 413 on the declared length) would otherwise make Bun close the
 * connection while the body is still arriving, and a reverse proxy still sending it reports a
 * broken pipe and answers 502 instead of the envelope (nginx does). Bounded in bytes and time,
 * so that a body nobody wants costs little; false when it gave up (then the caller answers with
 * `connection: close`, or the slow sender would keep the connection until the idle timeout).
 */
export async function discardUnread(request: Request): Promise<boolean> {
  // A client waiting for "100 Continue" has sent no body: reading would invite it (RFC 9110 §10.1.1).
  if (request.headers.get("expect")?.toLowerCase() === "100-continue") return false;
  if (request.body === null) return true;
  let reader: ReadableStreamDefaultReader<Uint8Array>;
  try {
    reader = request.body.getReader();
  } catch {
    return true; // read to its end already (or given up with a 408, which closes the connection)
  }
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), DISCARD_MS)));
  const declared = Number(request.headers.get("content-length") ?? Number.NaN);
  const budget = declared > 0 && declared <= DISCARD_DECLARED ? declared : DISCARD_BYTES;
  let drained = false;
  try {
    for (;;) {
      const r = await Promise.race([reader.read(), late]);
      if (r === "late") break;
      if (r.done) {
        drained = true;
        break;
      }
      size += r.value.length;
      if (size > budget) break;
    }
  } catch {
    drained = true; // the client went away: nothing left to answer
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => {});
  }
  return drained;
}
