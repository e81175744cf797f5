/**
 * The operator's log: one line per request and one per notable event (upstream failure, breaker
 * transition, alert delivery failure, start-up warning), as JSON lines (default) or plain text.
 * Callers pass only ids, counts, codes and scrubbed upstream messages: never keys, tokens or
 * anything a customer wrote. Lines are buffered and written once per event-loop turn.
 */
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

export function createLog(format: LogFormat, write: (text: string) => void = (t) => void process.stdout.write(t)): Log {
  if (format === "off") return OFF;
  let buffer = "";
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (!buffer) return;
    const text = buffer;
    buffer = "";
    write(text);
  };
  const line = (level: string, msg: string, fields: LogFields) => {
    buffer += format === "json" ? jsonLine(level, msg, fields) : textLine(level, msg, fields);
    if (buffer.length > 64 * 1024) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return {
    enabled: true,
    request: (fields) => line("info", "request", fields),
    event: (msg, fields, level = "info") => line(level, msg, fields),
    flush,
  };
}

const OFF: Log = { enabled: false, request() {}, event() {}, flush() {} };

function jsonLine(level: string, msg: string, fields: LogFields): string {
  let s = `{"time":"${new Date().toISOString()}","level":"${level}","msg":${JSON.stringify(msg)}`;
  for (const k in fields) {
    const v = fields[k];
    if (v !== undefined) s += `,${JSON.stringify(k)}:${JSON.stringify(v)}`;
  }
  return `${s}}\n`;
}

function textLine(level: string, msg: string, fields: LogFields): string {
  let s = `${new Date().toISOString()} ${level.toUpperCase()} ${msg}`;
  for (const k in fields) {
    const v = fields[k];
    if (v === undefined || v === null) continue;
    const text = String(v);
    s += ` ${k}=${/[\s"=]/.test(text) ? JSON.stringify(text) : text}`;
  }
  return `${s}\n`;
}
