import { describe, expect, test } from "bun:test";
import { SseSplitter } from "../src/gateway/sse";

/**
 * The splitter's `whole` lets the stream forward a chunk's bytes instead of re-encoding its
 * events; it must only say so when those bytes are exactly the events it returned.
 */
const bytes = (s: string) => new TextEncoder().encode(s);
const push = (sp: SseSplitter, b: Uint8Array | string) => {
  const events = sp.push(typeof b === "string" ? bytes(b) : b);
  return { events, whole: sp.whole };
};

describe("SseSplitter.whole", () => {
  test("complete events in one read are whole", () => {
    const sp = new SseSplitter();
    expect(push(sp, 'data: {"a":1}\n\ndata: {"b":"é"}\n\n')).toEqual({ events: ['data: {"a":1}', 'data: {"b":"é"}'], whole: true });
  });

  test("an event split across reads is not whole, nor the read that completes it", () => {
    const sp = new SseSplitter();
    expect(push(sp, "data: {")).toEqual({ events: [], whole: false });
    expect(push(sp, '"a":1}\n\n')).toEqual({ events: ['data: {"a":1}'], whole: false });
    expect(push(sp, "data: 2\n\n").whole).toBe(true);
  });

  test("a character split across reads is not whole", () => {
    const sp = new SseSplitter();
    const b = bytes('data: "é"\n\n');
    expect(push(sp, b.subarray(0, 8)).whole).toBe(false);
    expect(push(sp, b.subarray(8))).toEqual({ events: ['data: "é"'], whole: false });
  });

  test("\\r line ends, empty events, a byte order mark and invalid UTF-8 are not whole", () => {
    expect(push(new SseSplitter(), "data: 1\r\n\r\n")).toEqual({ events: ["data: 1"], whole: false });
    expect(push(new SseSplitter(), "data: 1\n\n\n\ndata: 2\n\n")).toEqual({ events: ["data: 1", "data: 2"], whole: false });
    expect(push(new SseSplitter(), "\uFEFFdata: 1\n\n")).toEqual({ events: ["data: 1"], whole: false });
    const bad = new Uint8Array([...bytes("data: "), 0xff, ...bytes("\n\n")]);
    expect(push(new SseSplitter(), bad)).toEqual({ events: ["data: \uFFFD"], whole: false });
  });

  test("the unterminated rest is never whole", () => {
    const sp = new SseSplitter();
    push(sp, "data: 1\n\ndata: 2");
    expect(sp.rest()).toBe("data: 2");
    expect(sp.whole).toBe(false);
  });
});
