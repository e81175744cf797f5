/** `text` parsed when it is a JSON object (or array); null when it is not JSON or a scalar. */
export function parseJsonObject<T>(text: string): T | null {
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === "object" ? (v as T) : null;
  } catch {
    return null;
  }
}
