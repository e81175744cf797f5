import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./support/binary";

/**
 * `bun run release`: the executable for linux-x64, linux-arm64 and darwin-arm64 in dist/release/
 * with SHA256SUMS. The linux-x64 artifact is run (serve, then a clean SIGTERM); the others are
 * checked by their headers, and the arm64 Linux one run under qemu when the machine has it.
 */
setDefaultTimeout(600_000);
const OUT = join(ROOT, "dist/release");
let log = "";
let code = -1;

beforeAll(async () => {
  const proc = Bun.spawn(["bun", "run", "release"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  code = await proc.exited;
  log = out + err;
});

/** The platform an executable is for, from its header: ELF (e_machine) or 64-bit Mach-O (cputype). */
function platformOf(file: string): string {
  const b = readFileSync(file).subarray(0, 20);
  if (b[0] === 0x7f && b.toString("latin1", 1, 4) === "ELF") {
    const machine = b.readUInt16LE(18);
    return machine === 0x3e ? "ELF x86-64" : machine === 0xb7 ? "ELF aarch64" : `ELF machine ${machine}`;
  }
  if (b.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = b.readUInt32LE(4);
    return cpu === 0x0100000c ? "Mach-O arm64" : cpu === 0x01000007 ? "Mach-O x86-64" : `Mach-O cpu ${cpu}`;
  }
  return "unknown";
}

const EXPECTED: Record<string, string> = {
  "tollgate-linux-x64": "ELF x86-64",
  "tollgate-linux-arm64": "ELF aarch64",
  "tollgate-darwin-arm64": "Mach-O arm64",
};

describe("bun run release", () => {
  test("builds every target (or says which it could not and why), each for its platform", () => {
    expect(existsSync(join(OUT, "tollgate-linux-x64"))).toBe(true);
    for (const [file, platform] of Object.entries(EXPECTED)) {
      const path = join(OUT, file);
      if (existsSync(path)) expect(platformOf(path)).toBe(platform);
      // A target that could not be built is named, with the reason, and the run fails.
      else expect(log).toContain(`could not build ${file.slice("tollgate-".length)}`);
    }
    const missing = Object.keys(EXPECTED).filter((f) => !existsSync(join(OUT, f)));
    expect(code).toBe(missing.length ? 1 : 0);
    // Only the executables and their checksums: the source maps stay out of the release folder.
    expect([...new Bun.Glob("*").scanSync(OUT)].sort()).toEqual(["SHA256SUMS", ...Object.keys(EXPECTED).filter((f) => !missing.includes(f))].sort());
  });

  test("SHA256SUMS verifies with sha256sum -c", async () => {
    const sums = readFileSync(join(OUT, "SHA256SUMS"), "utf8").trim().split("\n");
    expect(sums.length).toBeGreaterThanOrEqual(1);
    for (const line of sums) expect(line).toMatch(/^[0-9a-f]{64} {2}tollgate-[a-z0-9-]+$/);
    const check = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], { cwd: OUT });
    expect(check.exitCode).toBe(0);
    expect(check.stdout.toString().trim().split("\n").every((l) => l.endsWith(": OK"))).toBe(true);
  });

  test("the linux-x64 executable serves and stops cleanly", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-release-"));
    const bin = join(OUT, "tollgate-linux-x64");
    try {
      expect(Bun.spawnSync([bin, "--version"]).stdout.toString().trim()).toMatch(/^tollgate \d+\.\d+\.\d+$/);
      const proc = Bun.spawn([bin, "serve"], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? "", HOME: dir, PORT: "0", HOST: "127.0.0.1", TOLLGATE_DB: join(dir, "t.db"), TOLLGATE_ADMIN_TOKEN: "release-test-token-0123456789" },
        stdout: "pipe",
        stderr: "pipe",
      });
      const reader = proc.stdout.getReader();
      let text = "";
      let url: string | undefined;
      while (!url) {
        const r = await reader.read();
        if (r.done) throw new Error(`exited before listening: ${text}`);
        text += new TextDecoder().decode(r.value);
        url = /listening on (http:\/\/\S+)/.exec(text)?.[1];
      }
      expect((await (await fetch(`${url}/healthz`)).json()) as unknown).toEqual({ status: "ok" });
      const accounts = await fetch(`${url}/admin/accounts`, { headers: { authorization: "Bearer release-test-token-0123456789" } });
      expect(accounts.status).toBe(200);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the linux-arm64 executable runs under qemu (when the machine has qemu-user-static)", () => {
    const bin = join(OUT, "tollgate-linux-arm64");
    const qemu = Bun.which("qemu-aarch64-static");
    if (!qemu || !existsSync("/usr/aarch64-linux-gnu") || !existsSync(bin)) {
      console.log("skipped: no qemu-aarch64-static with /usr/aarch64-linux-gnu (apt-get install qemu-user-static libc6-arm64-cross)");
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), "tollgate-arm64-"));
    try {
      const r = Bun.spawnSync([qemu, "-L", "/usr/aarch64-linux-gnu", bin, "migrate", "--db", join(dir, "a.db"), "--json"], { env: { PATH: process.env.PATH ?? "", HOME: dir } });
      expect(r.exitCode).toBe(0);
      expect(JSON.parse(r.stdout.toString())).toMatchObject({ object: "migration_result", applied: expect.any(Number) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

afterAll(() => {
  // The release folder is large (three executables); the next `bun run release` makes it anew.
  rmSync(OUT, { recursive: true, force: true });
});
