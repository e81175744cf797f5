import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { eventData, SseSplitter, sseEvent } from "../src/gateway/sse";

/**
 * SseSplitter and eventData (src/gateway/sse.ts): the stream proxy's view of upstream SSE bytes,
 * however the network cuts them. Examples of `whole` are in chat-sse.test.ts; here, properties
 * over arbitrary cuts, line ends, byte order marks and characters split across reads.
 */
const encode = (s: string) => new TextEncoder().encode(s);
const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** Cuts `bytes` at the given offsets (any byte, inside a character or a line end too). */
function cut(bytes: Uint8Array, offsets: number[]): Uint8Array[] {
  const points = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

/** Every event the splitter gives for `chunks`, the unterminated rest included, and each push's `whole`. */
function split(chunks: Uint8Array[]) {
  const sp = new SseSplitter();
  const events: string[] = [];
  const pushes: { chunk: Uint8Array; events: string[]; whole: boolean }[] = [];
  for (const chunk of chunks) {
    const got = sp.push(chunk);
    pushes.push({ chunk, events: got, whole: sp.whole });
    events.push(...got);
  }
  const rest = sp.rest();
  if (rest !== null) events.push(rest);
  return { events, pushes, rest };
}

/**
 * Line text: 1- to 4-byte characters, no line end, no byte order mark; not starting or ending
 * with a space (the rest of a stream is trimmed, see below).
 */
const lineArb = fc
  .array(fc.constantFrom("d", "a", "t", ":", " ", "{", "}", '"', "é", "中", "😀", "\u2028", "\u00a0", "0"), { minLength: 1, maxLength: 24 })
  .map((cs) => cs.join(""))
  .filter((l) => l.trim() === l && l.length > 0);
/** An event: one or more non-empty lines (its text once line ends are normalised to \n). */
const eventArb = fc.array(lineArb, { minLength: 1, maxLength: 4 }).map((lines) => lines.join("\n"));
const eventsArb = fc.array(eventArb, { minLength: 1, maxLength: 8 });
const offsetsArb = fc.array(fc.nat(), { maxLength: 12 });
const lineEndArb = fc.constantFrom("\n", "\r\n", "\r");

describe("SseSplitter across reads", () => {
  test("events come out whole and in order, however the bytes are cut", () => {
    fc.assert(
      fc.property(eventsArb, offsetsArb, (events, offsets) => {
        const bytes = encode(events.map((e) => `${e}\n\n`).join(""));
        const out = split(cut(bytes, offsets));
        expect(out.events).toEqual(events);
        expect(out.rest).toBeNull();
      }),
    );
  });

  test("\\r\\n and \\r line ends, even split between \\r and \\n, read as \\n", () => {
    fc.assert(
      fc.property(eventsArb, lineEndArb, offsetsArb, (events, eol, offsets) => {
        const text = events.map((e) => e.replaceAll("\n", eol) + eol + eol).join("");
        expect(split(cut(encode(text), offsets)).events).toEqual(events);
      }),
    );
    // The cut between \r and \n: not an extra blank line, and the event goes out as soon as its
    // blank line is read, before the \n that may complete it.
    const sp = new SseSplitter();
    expect(sp.push(encode("data: 1\r"))).toEqual([]);
    expect(sp.push(encode("\ndata: 2\r\n\r"))).toEqual(["data: 1\ndata: 2"]);
    expect(sp.push(encode("\n"))).toEqual([]);
    expect(sp.push(encode("data: 3\n\n"))).toEqual(["data: 3"]);
    expect(sp.rest()).toBeNull();
    // An upstream ending lines with \r alone: each event goes out when its \r\r is read, not held
    // until more bytes come (a stream that then pauses still delivers it).
    const bare = new SseSplitter();
    expect(bare.push(encode("data: 1\r\rdata: 2 \r\r"))).toEqual(["data: 1", "data: 2 "]);
    expect(bare.push(encode("data: 3\r"))).toEqual([]);
    expect(bare.push(encode("\r"))).toEqual(["data: 3"]);
    expect(bare.push(encode("\r\n"))).toEqual([]);
    expect(bare.rest()).toBeNull();
  });

  test("a byte order mark at the start is dropped, and only there", () => {
    fc.assert(
      fc.property(eventsArb, offsetsArb, (events, offsets) => {
        const bytes = concat([new Uint8Array([0xef, 0xbb, 0xbf]), encode(events.map((e) => `${e}\n\n`).join(""))]);
        const out = split(cut(bytes, offsets));
        expect(out.events).toEqual(events);
        // Its bytes are not in the events: no read that holds them may be forwarded as is.
        expect(out.pushes.filter((p) => p.chunk.length > 0)[0]!.whole).toBe(false);
      }),
    );
    const sp = new SseSplitter();
    expect(sp.push(encode("data: 1\n\n\uFEFFdata: 2\n\n"))).toEqual(["data: 1", "\uFEFFdata: 2"]);
  });

  test("any bytes, valid UTF-8 or not, read in pieces give the events of one read of them all", () => {
    // Whole characters, their pieces, byte order marks, stray continuation and invalid bytes, line ends.
    const token = fc.constantFrom(
      [0x64], [0x61], [0x3a], [0x20], [0x0a], [0x0a, 0x0a], [0x0d], [0xef, 0xbb, 0xbf], [0xc3, 0xa9], [0xc3],
      [0xe4, 0xb8, 0xad], [0xe4, 0xb8], [0xf0, 0x9f, 0x98, 0x80], [0x9f], [0x80], [0xff],
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 40 }), offsetsArb, (tokens, offsets) => {
        const bytes = new Uint8Array(tokens.flat());
        // Empty reads between the pieces too.
        const pieces = cut(bytes, offsets).flatMap((c, i) => (offsets[i]! % 3 === 0 ? [c, c.subarray(0, 0)] : [c]));
        expect(split(pieces).events).toEqual(split([bytes]).events);
      }),
      { numRuns: 2_000 },
    );
  });

  test("a character cut anywhere in its bytes arrives once, intact", () => {
    for (const ch of ["é", "中", "😀"]) {
      const bytes = encode(`data: ${ch}${ch}\n\n`);
      for (let i = 0; i <= bytes.length; i++) {
        for (let j = i; j <= bytes.length; j++) {
          expect(split([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)]).events).toEqual([`data: ${ch}${ch}`]);
        }
      }
    }
  });

  test("blank lines between events are no events; an unterminated last event is the rest, trimmed", () => {
    expect(split([encode("\n\n\n\ndata: 1\n\n\n\n\n\ndata: 2\n\n")]).events).toEqual(["data: 1", "data: 2"]);
    const sp = new SseSplitter();
    expect(sp.push(encode("data: 1\n\ndata: 2\r\ndata: 3\r\n"))).toEqual(["data: 1"]);
    expect(sp.rest()).toBe("data: 2\ndata: 3");
    expect(sp.rest()).toBeNull();
    expect(new SseSplitter().rest()).toBeNull();
    const blank = new SseSplitter();
    blank.push(encode("data: 1\n\n  \n"));
    expect(blank.rest()).toBeNull();
    // A character left incomplete at the very end is flushed as a replacement character.
    const partial = new SseSplitter();
    partial.push(encode("data: é").subarray(0, 7));
    expect(partial.rest()).toBe("data: \uFFFD");
  });

  test("an empty read gives nothing and is not whole; reads after it split as usual", () => {
    const sp = new SseSplitter();
    expect(sp.push(new Uint8Array())).toEqual([]);
    expect(sp.whole).toBe(false);
    expect(sp.push(encode("data: 1\n\n"))).toEqual(["data: 1"]);
    expect(sp.push(encode("data: 2\n\n"))).toEqual(["data: 2"]);
    expect(sp.whole).toBe(true);
  });

  test("`whole` is only ever said of a read whose bytes are exactly its events, each with a blank line", () => {
    const expectHonest = (pushes: ReturnType<typeof split>["pushes"]) => {
      for (const p of pushes) {
        if (!p.whole) continue;
        expect(p.events.length).toBeGreaterThan(0);
        expect([...p.chunk]).toEqual([...encode(p.events.map((e) => `${e}\n\n`).join(""))]);
      }
    };
    // Clean \n streams, cut anywhere (inside events and characters).
    fc.assert(
      fc.property(eventsArb, offsetsArb, (events, offsets) => {
        expectHonest(split(cut(encode(events.map((e) => `${e}\n\n`).join("")), offsets)).pushes);
      }),
    );
    // One kind of noise at a time, in a stream otherwise clean, cut at a few places.
    const noiseArb = fc.constantFrom("empty event", "\r\n", "\r", "byte order mark", "invalid UTF-8");
    fc.assert(
      fc.property(eventsArb, noiseArb, fc.nat(), fc.array(fc.nat(), { maxLength: 3 }), (events, noise, at, offsets) => {
        const withEmpty = noise === "empty event" ? events.toSpliced(at % (events.length + 1), 0, "") : events;
        const eol = noise === "\r\n" || noise === "\r" ? noise : "\n";
        const parts = [encode(withEmpty.map((e) => e.replaceAll("\n", eol) + eol + eol).join(""))];
        if (noise === "byte order mark") parts.unshift(new Uint8Array([0xef, 0xbb, 0xbf]));
        if (noise === "invalid UTF-8") parts.splice(0, 1, encode(`data: x`), new Uint8Array([0xff]), encode("\n\n"), parts[0]!);
        expectHonest(split(cut(concat(parts), offsets)).pushes);
      }),
      { numRuns: 500 },
    );
  });

  test("reads of well-formed \\n events that end on an event boundary are whole", () => {
    fc.assert(
      fc.property(fc.array(eventsArb, { minLength: 1, maxLength: 5 }), (reads) => {
        const sp = new SseSplitter();
        for (const events of reads) {
          expect(sp.push(encode(events.map((e) => `${e}\n\n`).join("")))).toEqual(events);
          expect(sp.whole).toBe(true);
        }
      }),
    );
  });
});

describe("eventData", () => {
  test.each([
    ["data: x", "x"],
    ["data:x", "x"],
    ["data:", ""],
    ["data: ", ""],
    ["data:  two spaces", " two spaces"],
    ['data: {"a":1}', '{"a":1}'],
    ["data: a\ndata: b", "a\nb"],
    ["data:a\ndata:  b\ndata:", "a\n b\n"],
    ["event: message\ndata: {}", "{}"],
    ["id: 7\ndata: a\n: comment\nretry: 10\ndata: b", "a\nb"],
    ["data: [DONE]", "[DONE]"],
  ])("%p → %p", (evt, data) => {
    expect(eventData(evt)).toBe(data);
  });

  test.each([[": ping"], ["event: ping"], ["id: 1"], ["retry: 3000"], ["Data: x"], [" data: x"], [""]])("%p has no data", (evt) => {
    expect(eventData(evt)).toBeNull();
  });

  test("a payload written by sseEvent comes back through the splitter and eventData, whatever the cuts", () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue(), { minLength: 1, maxLength: 5 }), offsetsArb, (payloads, offsets) => {
        const bytes = encode(payloads.map((p) => sseEvent(p)).join(""));
        const { events } = split(cut(bytes, offsets));
        expect(events.map((e) => JSON.parse(eventData(e)!))).toEqual(JSON.parse(JSON.stringify(payloads)));
      }),
    );
  });

  test("multi-line data joins its lines with \\n, in order", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "grapheme" }).filter((s) => !/[\r\n]/.test(s)), { minLength: 1, maxLength: 6 }), (lines) => {
        expect(eventData(lines.map((l) => `data: ${l}`).join("\n"))).toBe(lines.join("\n"));
        expect(eventData(lines.map((l) => `data:${l}`).join("\n"))).toBe(lines.map((l) => (l.startsWith(" ") ? l.slice(1) : l)).join("\n"));
      }),
    );
  });
});
