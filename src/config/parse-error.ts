/**
 * A config file that fails to parse, described without its text: the parsers quote what they
 * stopped at, and a secret written unquoted would be repeated on stderr and in the service's log.
 */

/**
 * The parser's message without what it quotes from the file (a token, a key, a character): the
 * kind of error stays, and so do the tokens the grammar expected ("Expected ',' or ']'").
 */
function errorKind(message: string): string {
  const kind = message
    .replace(/^(TOML|JSON) Parse error: /, "")
    .replace(/ but found (?!end of file).*$/s, "")
    .replace(/^"[^"]*"/, "the text")
    .replace(/:? ?"[^"]*"/g, "")
    .replace(/(:? ?)'('|[^']*)'/g, (quoted, _pre, _inner, at: number, whole: string) => (/(expected|or|after)$/i.test(whole.slice(0, at)) ? quoted : ""))
    .replace(/:? ?\(0x[0-9a-f]+\)/gi, "")
    .replace(/^(Invalid escape character)\b.*$/s, "$1");
  // Whatever quoting a newer parser may add is cut, not shown.
  const cut = kind.search(/"|0x|\n/);
  return (cut < 0 ? kind : kind.slice(0, cut)).replace(/[\s:;,]+$/, "") || "syntax error";
}

/** Line and column (from 1) of an offset. */
function position(text: string, offset: number): { line: number; column?: number } {
  const before = text.slice(0, offset);
  return { line: before.split("\n").length, column: offset - before.lastIndexOf("\n") };
}

/**
 * The line TOML fails on: the first whole-line prefix of the file that fails as the file does
 * (the parser stops at its first error, so every longer prefix fails the same way).
 */
function tomlErrorLine(text: string, message: string): number | undefined {
  const ends = [...text.matchAll(/\n/g)].map((m) => m.index + 1).concat(text.length);
  const failsAlike = (k: number) => {
    try {
      Bun.TOML.parse(text.slice(0, ends[k - 1]));
      return false;
    } catch (e) {
      return (e as Error).message === message;
    }
  };
  let [lo, hi] = [1, ends.length];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (failsAlike(mid)) hi = mid;
    else lo = mid + 1;
  }
  return failsAlike(lo) ? lo : undefined;
}

/** Where TOML fails: the line, and the column when the token it quotes occurs once on that line. */
function tomlPosition(text: string, message: string): { line: number; column?: number } | undefined {
  const line = tomlErrorLine(text, message);
  if (line === undefined) return undefined;
  const token = /"(.+)"$/.exec(message)?.[1];
  const lineText = text.split("\n")[line - 1] ?? "";
  const at = token ? lineText.indexOf(token) : -1;
  return at >= 0 && lineText.indexOf(token!, at + 1) < 0 ? { line, column: at + 1 } : { line };
}

/** The offset where strict JSON (RFC 8259, what JSON.parse reads) first fails; undefined if it does not. */
export function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const stop = (at = i): never => {
    throw at;
  };
  const blanks = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const string = () => {
    const start = i++;
    for (;;) {
      const c = text.charCodeAt(i);
      if (Number.isNaN(c) || c < 0x20) stop(start);
      if (c === 0x22) return void i++;
      if (c !== 0x5c) i++;
      else if (/^(["\\/bfnrt]|u[0-9a-fA-F]{4})/.test(text.slice(i + 1, i + 6))) i += text[i + 1] === "u" ? 6 : 2;
      else stop();
    }
  };
  const list = (close: string, item: () => void) => {
    i++;
    blanks();
    if (text[i] === close) return void i++;
    for (;;) {
      item();
      blanks();
      if (text[i] === close) return void i++;
      if (text[i] !== ",") stop();
      i++;
    }
  };
  const member = () => {
    blanks();
    if (text[i] !== '"') stop();
    string();
    blanks();
    if (text[i] !== ":") stop();
    i++;
    value();
  };
  const value = (): void => {
    blanks();
    const c = text[i];
    if (c === "{") return list("}", member);
    if (c === "[") return list("]", value);
    if (c === '"') return string();
    const word = /(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|[A-Za-z_$][\w$]*)(?![\w.$])/y;
    word.lastIndex = i;
    const w = word.exec(text)?.[0];
    if (w === undefined || (/^[A-Za-z_$]/.test(w) && !["true", "false", "null"].includes(w))) stop();
    i += w!.length;
  };
  try {
    value();
    blanks();
    return i < text.length ? i : undefined;
  } catch (at) {
    return typeof at === "number" ? at : undefined;
  }
}

/**
 * What is wrong with a config file that does not parse, in one line: the kind of error and where,
 * never the file's text; and the other format when the file reads as that (a TOML file named .json).
 */
export function describeParseError(text: string, toml: boolean, error: Error): string {
  const offset = toml ? undefined : jsonErrorOffset(text);
  const at = toml ? tomlPosition(text, error.message) : offset === undefined ? undefined : position(text, offset);
  const where = at ? ` at line ${at.line}${at.column ? `, column ${at.column}` : ""}` : "";
  return `invalid ${toml ? "TOML" : "JSON"}${where} (${errorKind(error.message)})${otherFormat(text, toml)}`;
}

/** A hint when the file holds settings in the other format (an empty file reads as empty TOML: no hint). */
function otherFormat(text: string, toml: boolean): string {
  let other: unknown;
  try {
    other = toml ? JSON.parse(text) : Bun.TOML.parse(text);
  } catch {
    return "";
  }
  if (!other || typeof other !== "object" || Array.isArray(other) || Object.keys(other).length === 0) return "";
  return toml ? "; the file reads as JSON: name it *.json" : "; the file reads as TOML: name it *.toml";
}
