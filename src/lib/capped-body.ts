import { errors } from "./errors";

const decoder = new TextDecoder();

/** A body longer than the bound it was read under: the read stopped there. */
export class BodyTooLarge extends Error {
  constructor(readonly max: number) {
    super(`the body is larger than ${max} bytes`);
  }
}

/** What the customer gets for an upstream answer larger than max_answer_bytes. */
export const answerTooLarge = () => errors.upstream(502, "The upstream's response was larger than the gateway accepts.", "upstream_answer_too_large");

/**
 * A response body's text, at most `max` bytes of it: one that declares more is not read, and one
 * that turns out longer is cancelled there; either throws BodyTooLarge. A body of declared length
 * within the bound is read natively, whole (the usual answer costs nothing more).
 */
export function cappedText(res: Response, max: number): Promise<string> {
  const declared = res.headers.get("content-length");
  // A chunked body's length is the chunks', whatever a content-length beside it says (RFC 9112 6.3).
  if (declared === null || !/^\d+$/.test(declared) || res.headers.has("transfer-encoding")) return readCapped(res, max);
  const inflation = INFLATION[res.headers.get("content-encoding")?.toLowerCase() ?? "identity"];
  // A compressed body is read whole only when even its worst inflation stays within the bound.
  if (inflation === undefined || (inflation > 1 && Number(declared) * inflation > max)) return readCapped(res, max);
  if (Number(declared) <= max) return res.text();
  return (res.body?.cancel() ?? Promise.resolve()).catch(() => {}).then(() => {
    throw new BodyTooLarge(max);
  });
}

/**
 * The most a declared length grows as the body is decoded: deflate (gzip's too) inflates at most
 * 1,032 times; other encodings (brotli, zstd) have no such bound and are read chunk by chunk.
 */
const INFLATION: Record<string, number> = { identity: 1, gzip: 1032, "x-gzip": 1032, deflate: 1032 };

/** A body of no declared length (or compressed), chunk by chunk, cancelled past `max` bytes. */
async function readCapped(res: Response, max: number): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    size += r.value.length;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLarge(max);
    }
    chunks.push(r.value);
  }
  // As Response.text() decodes: invalid bytes replaced, a byte order mark dropped.
  return decoder.decode(Buffer.concat(chunks, size));
}
