const decoder = new TextDecoder();

/** A body longer than the bound it was read under: the read stopped there. */
export class BodyTooLarge extends Error {
  constructor(readonly max: number) {
    super(`the body is larger than ${max} bytes`);
  }
}

/**
 * A response body's text, at most `max` bytes of it: one that declares more is not read, and one
 * that turns out longer is cancelled there; either throws BodyTooLarge. A body of declared length
 * within the bound is read natively, whole (the usual answer costs nothing more).
 */
export async function cappedText(res: Response, max: number): Promise<string> {
  const declared = res.headers.get("content-length");
  // A compressed body's length says nothing of what it inflates to.
  const encoded = (res.headers.get("content-encoding") ?? "identity") !== "identity";
  if (declared !== null && !encoded && /^\d+$/.test(declared)) {
    if (Number(declared) > max) {
      await res.body?.cancel().catch(() => {});
      throw new BodyTooLarge(max);
    }
    return res.text();
  }
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
