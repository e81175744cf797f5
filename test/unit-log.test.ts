/** The operator's log lines: valid JSON whatever the values, one write per batch. */
import { afterAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { createLog, FLUSH_MS, stdoutWriter } from "../src/lib/log";

test("every JSON line parses back to its fields, whatever the strings hold", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), fc.oneof(fc.double(), fc.integer(), fc.boolean(), fc.constant(null)), (text, other) => {
      let out = "";
      const log = createLog("json", (t) => (out += t));
      log.request({ text, other, gone: undefined });
      log.flush();
      const parsed = JSON.parse(out);
      expect(parsed.msg).toBe("request");
      expect(parsed.text).toBe(text);
      expect(parsed.other).toBe(typeof other === "number" && !Number.isFinite(other) ? null : Object.is(other, -0) ? 0 : other);
      expect("gone" in parsed).toBe(false);
      expect(out.endsWith("}\n") && out.indexOf("\n") === out.length - 1).toBe(true);
    }),
    { numRuns: 2_000 },
  );
});

test("lines of one burst go out in one write, within FLUSH_MS", async () => {
  const writes: string[] = [];
  const log = createLog("json", (t) => writes.push(t));
  for (let i = 0; i < 100; i++) log.request({ i });
  expect(writes).toEqual([]);
  await Bun.sleep(FLUSH_MS * 3);
  expect(writes.length).toBe(1);
  expect(writes[0]!.split("\n").length).toBe(101);
});

describe("stdoutWriter", () => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-log-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** A stand-in for process.stdout: records what goes through its queue, which never drains. */
  const queue = () => {
    const got: Buffer[] = [];
    let created = 0;
    const out = {
      get writableLength() {
        return got.reduce((n, b) => n + b.length, 0);
      },
      write: (b: string | Uint8Array) => (got.push(Buffer.from(b)), true),
    } as unknown as NodeJS.WriteStream;
    return { got, out: () => (created++, out), created: () => created };
  };

  test("writes each batch at once, whole and in order, without the stream's queue", () => {
    const file = join(dir, "out.log");
    const fd = openSync(file, "w");
    const q = queue();
    const write = stdoutWriter(fd, q.out);
    write("first é line\n");
    write("second line\n");
    expect(readFileSync(file, "utf8")).toBe("first é line\nsecond line\n");
    expect(q.got).toEqual([]);
    // Never needed, never created.
    expect(q.created()).toBe(0);
    closeSync(fd);
  });

  test("a full pipe: what did not fit goes through the queue, and so do later batches while it is not empty", () => {
    const fifo = join(dir, "pipe");
    execFileSync("mkfifo", [fifo]);
    // Read-write and non-blocking, as Bun leaves a pipe on stdout: a full pipe answers EAGAIN.
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    const q = queue();
    const text = "x".repeat(200_000) + "\n";
    const write = stdoutWriter(fd, q.out);
    write(text);
    const queued = Buffer.concat(q.got);
    expect(queued.length).toBeGreaterThan(0);
    const inPipe = Buffer.alloc(text.length);
    let n = 0;
    for (;;) {
      try {
        const r = readSync(fd, inPipe, n, inPipe.length - n, null);
        if (r <= 0) break;
        n += r;
      } catch {
        break;
      }
    }
    expect(Buffer.concat([inPipe.subarray(0, n), queued]).toString()).toBe(text);
    // While the queue still holds bytes, a new batch waits behind them (the pipe has room again).
    write("later\n");
    expect(Buffer.concat(q.got).toString()).toBe(text.slice(n) + "later\n");
    expect(q.created()).toBe(1);
    closeSync(fd);
  });
});
