/** Direct calls to a mock upstream (no gateway), and SSE parsing for its named-event streams. */
import type { MockUpstream } from "../../src/demo/mock-upstream";

export function mockClient(up: () => MockUpstream) {
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}, init: RequestInit = {}) =>
    fetch(`${up().url}${path}`, {
      method,
      ...init,
      headers: { authorization: "Bearer upstream-key", ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  return {
    post: (path: string, body: unknown, headers?: Record<string, string>, init?: RequestInit) => call("POST", path, body, headers, init),
    get: (path: string) => call("GET", path),
    del: (path: string) => call("DELETE", path),
    /** POST and read the JSON answer (any status). */
    json: async <T = Record<string, any>>(path: string, body: unknown, headers?: Record<string, string>) => (await (await call("POST", path, body, headers)).json()) as T,
  };
}

export interface NamedEvent {
  event: string;
  data: any;
}

/** `event:` + `data:` blocks; a block without `event:` is named "message" (data-only SSE). */
export function parseNamed(raw: string): NamedEvent[] {
  const out: NamedEvent[] = [];
  for (const block of raw.split("\n\n")) {
    if (!block.trim()) continue;
    let event = "message";
    let data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data += line.slice(5).trim();
    }
    out.push({ event, data: data === "[DONE]" ? "[DONE]" : JSON.parse(data) });
  }
  return out;
}

/** Reads a stream until it ends or breaks: the text received and whether it broke. */
export async function readUntilBroken(res: Response): Promise<{ raw: string; broken: boolean }> {
  const decoder = new TextDecoder();
  let raw = "";
  try {
    for await (const chunk of res.body!) raw += decoder.decode(chunk, { stream: true });
    return { raw, broken: false };
  } catch {
    return { raw, broken: true };
  }
}
