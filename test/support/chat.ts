/** Small helpers for chat tests against a gateway on loopback. */
export function chat(url: string, key: string, body: Record<string, unknown>, init: RequestInit = {}): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    ...init,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...(init.headers as Record<string, string>) },
    body: JSON.stringify(body),
  });
}

export interface SseEvents {
  events: unknown[];
  done: boolean;
  raw: string;
}

/** Reads a whole SSE response into parsed `data:` payloads. */
export async function readSse(res: Response): Promise<SseEvents> {
  return parseSse(await res.text());
}

/** Parses a whole SSE text into `data:` payloads and whether `[DONE]` came. */
export function parseSse(raw: string): SseEvents {
  const events: unknown[] = [];
  let done = false;
  for (const block of raw.split("\n\n")) {
    for (const line of block.split("\n")) {
      if (!line.startsWith("data:")) continue;
      const data = line.slice(5).trim();
      if (data === "[DONE]") done = true;
      else events.push(JSON.parse(data));
    }
  }
  return { events, done, raw };
}

/** Polls `fn` until it returns true or the deadline passes. */
export async function until(fn: () => boolean | Promise<boolean>, ms = 2000, step = 10): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await Bun.sleep(step);
  }
  return fn();
}

export const user = (content = "Hello there") => [{ role: "user", content }];
