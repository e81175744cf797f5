/** One-shot SHA-256 (Bun.SHA256.hash: about half the cost of a CryptoHasher per call; keys are hashed per request). */
export function sha256Hex(input: string): string {
  return Bun.SHA256.hash(input, "hex") as string;
}

/** Constant-time comparison of two secrets via their digests (equal length by construction). */
export function safeEqual(a: string, b: string): boolean {
  const da = Buffer.from(sha256Hex(a), "hex");
  const store = Buffer.from(sha256Hex(b), "hex");
  return crypto.timingSafeEqual(da, store);
}
