/**
 * Splits an SSE byte stream into whole events. Events are forwarded as their exact upstream
 * text, so the client sees what the upstream sent, event by event.
 */
export class SseSplitter {
  private buf = "";
  private readonly decoder = new TextDecoder();

  /** Feeds bytes; returns the complete events (without their blank-line terminator). */
  push(bytes: Uint8Array): string[] {
    this.buf += this.decoder.decode(bytes, { stream: true });
    if (this.buf.includes("\r")) {
      // Keep a trailing \r: it may be the first half of a \r\n split across reads.
      const tail = this.buf.endsWith("\r") ? "\r" : "";
      this.buf = (tail ? this.buf.slice(0, -1) : this.buf).replace(/\r\n?/g, "\n") + tail;
    }
    // One pass with a cursor, one slice of the rest at the end (not one per event).
    const events: string[] = [];
    let start = 0;
    let idx: number;
    while ((idx = this.buf.indexOf("\n\n", start)) >= 0) {
      if (idx > start) events.push(this.buf.slice(start, idx));
      start = idx + 2;
    }
    if (start > 0) this.buf = this.buf.slice(start);
    return events;
  }

  /** What is left when the stream ends (an unterminated last event), if anything. */
  rest(): string | null {
    const r = (this.buf + this.decoder.decode()).replace(/\r\n?/g, "\n").trim();
    this.buf = "";
    return r.length > 0 ? r : null;
  }
}

/** The joined `data:` payload of an event, or null when it has none (comments, bare fields). */
export function eventData(evt: string): string | null {
  if (evt.startsWith("data: ") && !evt.includes("\n")) return evt.slice(6);
  let data: string | null = null;
  for (const line of evt.split("\n")) {
    if (line.startsWith("data:")) {
      const v = line.slice(line.charAt(5) === " " ? 6 : 5);
      data = data === null ? v : `${data}\n${v}`;
    }
  }
  return data;
}

export const sseEvent = (payload: unknown): string => `data: ${JSON.stringify(payload)}\n\n`;
