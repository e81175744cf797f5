/**
 * The operator's log: one line per request and one per notable event (upstream failure, breaker
 * transition, alert delivery failure, start-up warning), as JSON lines (default) or plain text.
 * Callers pass only ids, counts, codes and scrubbed upstream messages: never keys, tokens or
 * anything a customer wrote. Lines are buffered and written every FLUSH_MS (at once above 64 KiB):
 * one write(2) per batch, not per request.
 */
import { writeSync } from "node:fs";

export type LogFormat = "json" | "text" | "off";
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Log {
  readonly enabled: boolean;
  /** One line for one request (`msg: "request"`). */
  request(fields: LogFields): void;
  /** One line for an event, e.g. "upstream_failure", "breaker", "warning". */
  event(msg: string, fields: LogFields, level?: "info" | "warn" | "error"): void;
  /** Writes what is buffered now (at exit). */
  flush(): void;
}

/** How long a line may wait in the buffer: long enough to batch a busy loop's lines into one write. */
export const FLUSH_MS = 20;

export function createLog(format: LogFormat, write: (text: string) => void = stdoutWriter()): Log {
  if (format === "off") return OFF;
  const now = clock();
  let buffer = "";
  let timer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (!buffer) return;
    const text = buffer;
    buffer = "";
    write(text);
  };
  const line = (level: string, msg: string, fields: LogFields) => {
    buffer += format === "json" ? jsonLine(now(), level, msg, fields) : textLine(now(), level, msg, fields);
    if (buffer.length > 64 * 1024) flush();
    else if (!timer) timer = setTimeout(flush, FLUSH_MS);
  };
  return {
    enabled: true,
    request: (fields) => line("info", "request", fields),
    event: (msg, fields, level = "info") => line(level, msg, fields),
    flush,
  };
}

const OFF: Log = { enabled: false, request() {}, event() {}, flush() {} };

/**
 * Standard output, written with one write(2) per batch: under load a fraction of the CPU of
 * process.stdout.write (docs/benchmarks.md), and nothing left in a queue at exit. When the pipe or
 * socket is full (a slow reader), the rest goes through process.stdout's queue, and so does every
 * batch after it until that queue is empty, so that lines stay in order. The stream is created
 * then, not before: nothing else writes to it, and creating it costs a start about 4 ms (Node's
 * stream modules).
 */
export function stdoutWriter(fd = 1, stream: () => NodeJS.WriteStream = () => process.stdout): (text: string) => void {
  let out: NodeJS.WriteStream | null = null;
  return (text) => {
    if (out && out.writableLength > 0) return void out.write(text);
    let written = 0;
    try {
      written = writeSync(fd, text);
    } catch {
      // EAGAIN (full), or anything else: the stream then behaves as it always has.
    }
    if (written === Buffer.byteLength(text)) return;
    (out ??= stream()).write(Buffer.from(text).subarray(written));
  };
}

/**
 * One JSON line. The fields are serialised natively in one call (what JSON.stringify omits or
 * writes as null, undefined and non-finite numbers, is what a line should omit or say): about
 * half the time of building the line field by field. Time, level and message are the code's own
 * and need no escaping.
 */
function jsonLine(time: string, level: string, msg: string, fields: LogFields): string {
  const rest = JSON.stringify(fields);
  return `{"time":"${time}","level":"${level}","msg":"${msg}"${rest.length > 2 ? `,${rest.slice(1)}` : "}"}\n`;
}

function textLine(time: string, level: string, msg: string, fields: LogFields): string {
  let s = `${time} ${level.toUpperCase()} ${msg}`;
  for (const k in fields) {
    const v = fields[k];
    if (v === undefined || v === null) continue;
    const text = String(v);
    // Quoted (escaped) when it has spaces, quotes or control characters: a client's bytes never reach a terminal raw.
    s += ` ${k}=${/[\s"=\x00-\x1f\x7f-\x9f]/.test(text) ? JSON.stringify(text) : text}`;
  }
  return `${s}\n`;
}

/** The time as ISO 8601, formatted once per millisecond however many lines share it. */
function clock(): () => string {
  let lastMs = 0;
  let lastIso = "";
  return () => {
    const ms = Date.now();
    if (ms !== lastMs) {
      lastMs = ms;
      lastIso = new Date(ms).toISOString();
    }
    return lastIso;
  };
}

/**
 * An error's text fit for the log: email addresses and URL paths (a webhook's secret, a link's
 * token) taken out, at most 300 characters. Mail servers quote the recipient in their refusals.
 */
export function redacted(e: unknown): string {
  const text = String((e as Error)?.message ?? e);
  return text
    .replace(/https?:\/\/[^\s/"']+[^\s"']*/g, (u) => u.replace(/^(https?:\/\/[^/?#]+).*$/, "$1/…"))
    .replace(/[^\s<>"'@:;,]+@[^\s<>"'@:;,]+/g, "<address>")
    .slice(0, 300);
}
