import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { estimateTokens, promptEstimate, promptUpperBound } from "../src/gateway/estimate";
import { deltaTokens } from "../src/gateway/tap";

/**
 * Token estimates (src/gateway/estimate.ts): promptUpperBound sizes the hold and must never be
 * below what a BPE tokenizer can emit (at most one token per UTF-8 byte); estimateTokens and
 * promptEstimate are the realistic figures charged when the upstream reports no usage.
 */
const bytes = (s: string) => new TextEncoder().encode(s).length;
const isImage = (o: Record<string, unknown>) => o.type === "image_url" || o.type === "input_image" || o.type === "image";

/** UTF-8 bytes of every string and key in `v`, image parts left out (they count a fixed amount). */
function textBytes(v: unknown): number {
  if (typeof v === "string") return bytes(v);
  if (Array.isArray(v)) return v.reduce((s: number, x) => s + textBytes(x), 0);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (isImage(o)) return 0;
    return Object.entries(o).reduce((s, [k, x]) => s + bytes(k) + textBytes(x), 0);
  }
  return 0;
}

const user = (content: unknown) => ({ role: "user", content });
/** 8 per message, plus "role" + "user" + "content" (15 bytes) for a user message. */
const USER_OVERHEAD = 8 + 4 + 4 + 7;
const image = (type: string) => ({ type, image_url: { url: `data:image/png;base64,${"A".repeat(200_000)}` } });

/** Strings mixing 1- to 4-byte UTF-8 characters, short (counted inline) and long (counted natively). */
const textArb = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 200 }).filter((s) => s.isWellFormed()),
  fc.array(fc.constantFrom("a", " ", "é", "中", "😀", "\n", "{"), { maxLength: 80 }).map((a) => a.join("")),
  fc.array(fc.constantFrom("a", "é", "中", "😀"), { minLength: 30, maxLength: 120 }).map((a) => a.join("")),
);
/** Message-like JSON with text, numbers, nesting, and now and then an image part. */
const valueArb = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    textArb,
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom(image("image_url"), image("input_image"), image("image")),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.string({ unit: "grapheme", maxLength: 8 }), tie("value"), { maxKeys: 4 }),
  ),
})).value;
const bodyArb = fc.record(
  {
    messages: fc.array(fc.oneof(fc.record({ role: fc.constantFrom("system", "user", "assistant"), content: valueArb }), valueArb), { maxLength: 5 }),
    tools: valueArb,
    functions: valueArb,
    response_format: valueArb,
  },
  { requiredKeys: ["messages"] },
);

describe("promptUpperBound", () => {
  test("counts UTF-8 bytes of keys and values, 8 per message", () => {
    expect(promptUpperBound({ messages: [] })).toBe(0);
    expect(promptUpperBound({ messages: [user("")] })).toBe(USER_OVERHEAD);
    expect(promptUpperBound({ messages: [user("hello")] })).toBe(USER_OVERHEAD + 5);
    expect(promptUpperBound({ messages: [user("é")] })).toBe(USER_OVERHEAD + 2);
    expect(promptUpperBound({ messages: [user("中")] })).toBe(USER_OVERHEAD + 3);
    expect(promptUpperBound({ messages: [user("😀")] })).toBe(USER_OVERHEAD + 4);
    expect(promptUpperBound({ messages: [user("é".repeat(40))] })).toBe(USER_OVERHEAD + 80); // a long string, counted natively
    expect(promptUpperBound({ messages: [user("x".repeat(32))] })).toBe(USER_OVERHEAD + 32);
    expect(promptUpperBound({ messages: [user("x".repeat(33))] })).toBe(USER_OVERHEAD + 33);
    expect(promptUpperBound({ messages: [{ rôle: "user" }] })).toBe(8 + 5 + 4); // non-ASCII key
    expect(promptUpperBound({ messages: [user("a"), user("b")] })).toBe(2 * (USER_OVERHEAD + 1));
  });

  test("numbers and booleans count 2, null nothing", () => {
    expect(promptUpperBound({ messages: [user(12345)] })).toBe(USER_OVERHEAD + 2);
    expect(promptUpperBound({ messages: [user(true)] })).toBe(USER_OVERHEAD + 2);
    expect(promptUpperBound({ messages: [user(null)] })).toBe(USER_OVERHEAD);
    expect(promptUpperBound({ messages: [user([1, false, null])] })).toBe(USER_OVERHEAD + 4);
  });

  test("an image part counts 3000 whatever its size; other parts by their bytes", () => {
    for (const type of ["image_url", "input_image", "image"]) {
      expect(promptUpperBound({ messages: [user([image(type)])] })).toBe(USER_OVERHEAD + 3000);
    }
    const parts = [{ type: "text", text: "hi" }, image("image_url")];
    expect(promptUpperBound({ messages: [user(parts)] })).toBe(USER_OVERHEAD + (4 + 4 + 4 + 2) + 3000);
    // Not an image part: its base64 is counted byte by byte.
    expect(promptUpperBound({ messages: [user([{ type: "file", data: "A".repeat(5000) }])] })).toBe(USER_OVERHEAD + 4 + 4 + 4 + 5000);
  });

  test("tools, functions and response_format count too; absent or empty ones not", () => {
    const base = promptUpperBound({ messages: [user("hi")] });
    const tools = [{ type: "function", function: { name: "f" } }];
    expect(promptUpperBound({ messages: [user("hi")], tools })).toBe(base + (4 + 8) + (8 + 4 + 1));
    expect(promptUpperBound({ messages: [user("hi")], functions: [{ name: "g" }] })).toBe(base + 4 + 1);
    expect(promptUpperBound({ messages: [user("hi")], response_format: { type: "json_object" } })).toBe(base + 4 + 11);
    expect(promptUpperBound({ messages: [user("hi")], tools: undefined, functions: null, response_format: "" })).toBe(base);
  });

  test("is never below the UTF-8 bytes of the prompt's text (at most one BPE token a byte)", () => {
    fc.assert(
      fc.property(bodyArb, (body) => {
        const text = body.messages.reduce((s: number, m) => s + textBytes(m), 0) + textBytes(body.tools) + textBytes(body.functions) + textBytes(body.response_format);
        const bound = promptUpperBound(body);
        expect(Number.isSafeInteger(bound)).toBe(true);
        expect(bound).toBeGreaterThanOrEqual(text + 8 * body.messages.length);
      }),
    );
  });

  test("grows with every message added", () => {
    fc.assert(
      fc.property(bodyArb, valueArb, (body, extra) => {
        const more = { ...body, messages: [...body.messages, extra] };
        expect(promptUpperBound(more)).toBeGreaterThanOrEqual(promptUpperBound(body) + 8 + textBytes(extra));
      }),
    );
  });
});

describe("deltaTokens (a streamed delta)", () => {
  test("a short delta is one token; a long one four UTF-8 bytes a token, CJK included", () => {
    expect([deltaTokens(""), deltaTokens("a"), deltaTokens("twelve chars")]).toEqual([0, 1, 1]);
    expect(deltaTokens("thirteen chars")).toBe(4);
    // 21 characters, 63 bytes: about 16 tokens (four characters a token said 6).
    expect(deltaTokens("晴れのち曇り、ところにより雨。明日は晴れ。")).toBe(16);
  });
});

describe("estimateTokens", () => {
  test("about four UTF-8 bytes a token, rounded up; nothing for nothing", () => {
    expect(estimateTokens("")).toBe(0);
    expect(estimateTokens("a")).toBe(1);
    expect(estimateTokens("abcd")).toBe(1);
    expect(estimateTokens("abcde")).toBe(2);
    expect(estimateTokens("😀😀")).toBe(2); // eight bytes
    expect(estimateTokens("晴れ")).toBe(2); // six bytes: a CJK character is about 0.75 token, not 0.25
    fc.assert(
      fc.property(textArb, (s) => {
        expect(estimateTokens(s)).toBe(Math.ceil(Buffer.byteLength(s) / 4));
      }),
    );
  });

  test("adds up: never more than the estimates of the pieces", () => {
    fc.assert(
      fc.property(textArb, textArb, (a, b) => {
        expect(estimateTokens(a + b)).toBeLessThanOrEqual(estimateTokens(a) + estimateTokens(b));
        expect(estimateTokens(a + b)).toBeGreaterThanOrEqual(Math.max(estimateTokens(a), estimateTokens(b)));
      }),
    );
  });
});

describe("promptEstimate", () => {
  test("UTF-8 bytes of the values (not the keys) / 4, rounded up, plus 4 a message; an image is 1000", () => {
    expect(promptEstimate({ messages: [] })).toBe(0);
    expect(promptEstimate({ messages: [user("hello world!")] })).toBe(Math.ceil((4 + 12) / 4) + 4);
    expect(promptEstimate({ messages: [user(""), { role: "assistant", content: "ok" }] })).toBe(Math.ceil((4 + 9 + 2) / 4) + 8);
    expect(promptEstimate({ messages: [user([image("image_url")])] })).toBe(Math.ceil((4 + 4000) / 4) + 4);
    expect(promptEstimate({ messages: [user([image("input_image"), image("image")])] })).toBe(Math.ceil((4 + 8000) / 4) + 4);
    expect(promptEstimate({ messages: [user(12345)] })).toBe(1 + 4); // numbers are not text
  });

  test("is never above the hold's upper bound", () => {
    fc.assert(
      fc.property(bodyArb, (body) => {
        expect(promptEstimate(body)).toBeLessThanOrEqual(promptUpperBound(body));
      }),
    );
  });
});
