/** Bun's hard cap: above the configured limit so that the envelope of body-limit.ts answers first. */
export const hardBodyCap = (limit: number) => Math.max(limit * 4, 16 * 1024 * 1024);
