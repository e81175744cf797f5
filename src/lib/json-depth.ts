/** Deeper JSON is refused: generous for real JSON schemas, far below what breaks a parser or serialiser. */
export const MAX_JSON_DEPTH = 128;

const OPEN_BRACE = 123; // {
const OPEN_BRACKET = 91; // [
const CLOSE_BRACE = 125;
const CLOSE_BRACKET = 93;
const QUOTE = 34;
const BACKSLASH = 92;

/**
 * Whether the JSON text nests objects and arrays more than `limit` deep (brackets inside strings
 * do not count). Text with no more than `limit` opening brackets cannot, and is answered from a
 * native search: the full scan only runs for the rare large body.
 */
export function tooDeep(text: string, limit: number): boolean {
  let count = 0;
  for (let i = text.indexOf("{"); i !== -1 && count <= limit; i = text.indexOf("{", i + 1)) count++;
  for (let i = text.indexOf("["); i !== -1 && count <= limit; i = text.indexOf("[", i + 1)) count++;
  return count > limit && depthOf(text, limit) > limit;
}

/** The deepest nesting of the text, counted up to just past `limit`. */
function depthOf(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  outsideStrings(text, (c) => {
    if (c === OPEN_BRACE || c === OPEN_BRACKET) return ++depth > max && (max = depth) > limit;
    if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
    return false;
  });
  return max;
}

/** Calls `visit` with each character code of the JSON text outside its strings, until it returns true. */
function outsideStrings(text: string, visit: (c: number) => boolean): void {
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (visit(c)) return;
  }
}

/**
 * More object keys than this in a body are refused: parsing a key and walking it for the prompt
 * estimate cost about a microsecond or two each (an array's numbers far less), so 100,000 keys
 * are some 100 ms of the one JavaScript thread; a prompt's messages have a few keys each.
 */
export const MAX_JSON_KEYS = 100_000;

const COLON = 58; // :

/**
 * Whether the JSON text has more than `limit` object keys (its colons outside strings). Text with
 * no more than `limit` colons at all cannot, and is answered from a native search.
 */
export function tooManyKeys(text: string, limit: number): boolean {
  let count = 0;
  for (let i = text.indexOf(":"); i !== -1 && count <= limit; i = text.indexOf(":", i + 1)) count++;
  return count > limit && keysOf(text, limit) > limit;
}

/** The object keys of the text, counted up to just past `limit`. */
function keysOf(text: string, limit: number): number {
  let keys = 0;
  outsideStrings(text, (c) => c === COLON && ++keys > limit);
  return keys;
}
