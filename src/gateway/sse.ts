/**
 * Splits an SSE byte stream into whole events. Events are forwarded as their exact upstream
 * text, so the client sees what the upstream sent, event by event.
 */
export class SseSplitter {
  /** Text of an unfinished event, in the reads it came in (joined once, when it ends: a huge event costs no quadratic copying). */
  private pending: string[] = [];
  /** The pending text ends with a \n: a \n opening the next read completes a blank line. */
  private pendingLf = false;
  private readonly decoder = new TextDecoder();
  /** The previous push ended on an event boundary: nothing buffered, no partial character. */
  private aligned = true;
  private first = true;
  /** The last read ended on a \r, already taken as a line end: a \n first in the next read is its other half. */
  private lfDue = false;
  /**
   * The last push's events, each followed by a blank line, are exactly its bytes: the caller
   * may forward those bytes instead of re-encoding the text (no \r to normalise, no empty
   * event dropped, nothing carried across reads, no byte order mark or invalid UTF-8 replaced).
   */
  whole = false;

  /** Feeds bytes; returns the complete events (without their blank-line terminator). */
  push(bytes: Uint8Array): string[] {
    let text = this.decoder.decode(bytes, { stream: true });
    if (this.lfDue && text.length > 0) {
      this.lfDue = false;
      if (text.charCodeAt(0) === 10) text = text.slice(1);
    }
    // The usual read: one whole event, nothing carried over, plain ASCII line ends.
    if (this.aligned && this.pending.length === 0 && !this.first && bytes[bytes.length - 1] === 10) {
      const end = text.indexOf("\n\n");
      if (end > 0 && end === text.length - 2 && !text.includes("\r") && !text.includes("\uFFFD")) {
        this.whole = true;
        return [text.slice(0, end)];
      }
    }
    let whole = this.aligned && this.pending.length === 0;
    // The decoder drops a leading byte order mark: those bytes are not in the text.
    if (this.first) {
      this.first = false;
      if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) whole = false;
    }
    const raw = text;
    if (text.includes("\r")) {
      whole = false;
      // A trailing \r ends its line now (an event ended by \r\r goes out at once); it may be the
      // first half of a \r\n split across reads, so a \n opening the next read is dropped.
      this.lfDue = text.endsWith("\r");
      text = text.replace(/\r\n?/g, "\n");
    }
    const events: string[] = [];
    if (!this.split(text, events)) whole = false;
    // A last byte below 0x80 leaves no partial character in the decoder; a \n due to be dropped
    // keeps the next read off the fast path.
    this.aligned = this.pending.length === 0 && bytes.length > 0 && bytes[bytes.length - 1]! < 0x80 && !this.lfDue;
    this.whole = whole && this.aligned && events.length > 0 && !raw.includes("\uFFFD");
    return events;
  }

  /**
   * The events `text` ends (the first with what was pending), searched in this read's text only;
   * what follows the last is pending. False when an empty event (a stray blank line) was dropped.
   */
  private split(text: string, events: string[]): boolean {
    let whole = true;
    let start = 0;
    // A blank line across two reads: the pending text ends with \n and this one opens with it.
    if (this.pendingLf && text.charCodeAt(0) === 10) {
      whole = this.emit(this.pending.join("").slice(0, -1), events);
      this.pending = [];
      start = 1;
    }
    let idx: number;
    while ((idx = text.indexOf("\n\n", start)) >= 0) {
      let evt = text.slice(start, idx);
      if (this.pending.length > 0) {
        evt = this.pending.join("") + evt;
        this.pending = [];
      }
      if (!this.emit(evt, events)) whole = false;
      start = idx + 2;
    }
    if (start < text.length) {
      this.pending.push(start === 0 ? text : text.slice(start));
      this.pendingLf = text.charCodeAt(text.length - 1) === 10;
    } else if (this.pending.length === 0) this.pendingLf = false;
    return whole;
  }

  private emit(evt: string, events: string[]): boolean {
    if (evt.length === 0) return false;
    events.push(evt);
    return true;
  }

  /** What is left when the stream ends (an unterminated last event), if anything. */
  rest(): string | null {
    const r = (this.pending.join("") + this.decoder.decode()).replace(/\r\n?/g, "\n").trim();
    this.pending = [];
    this.pendingLf = false;
    this.whole = false;
    return r.length > 0 ? r : null;
  }
}

/** The joined `data:` payload of an event, or null when it has none (comments, bare fields). */
export function eventData(evt: string): string | null {
  const nl = evt.indexOf("\n");
  if (nl < 0) return evt.startsWith("data: ") ? evt.slice(6) : evt.startsWith("data:") ? evt.slice(5) : null;
  // The usual named event (Responses, Messages): `event: x` then one `data: ` line.
  if (evt.startsWith("event:") && evt.startsWith("data: ", nl + 1) && evt.indexOf("\n", nl + 1) < 0) return evt.slice(nl + 7);
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
