export function sha256Hex(input: string): string {
  return new Bun.CryptoHasher("sha256").update(input).digest("hex");
}

/** Constant-time comparison of two secrets via their digests (equal length by construction). */
export function safeEqual(a: string, b: string): boolean {
  const da = Buffer.from(sha256Hex(a), "hex");
  const db = Buffer.from(sha256Hex(b), "hex");
  return crypto.timingSafeEqual(da, db);
}
