import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../src/config/load";
import { jsonErrorOffset } from "../src/config/parse-error";
import { BIN, ensureBinary } from "./support/binary";

/**
 * A config file that does not parse is named with the line (and column) of the problem and the
 * kind of error, never its text: a secret written unquoted (an env-file habit) would otherwise be
 * quoted back by the parser onto stderr and into the service's log.
 */
setDefaultTimeout(60_000);
const dir = mkdtempSync(join(tmpdir(), "tollgate-parse-errors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function configError(path: string): string {
  try {
    loadConfig({ file: path });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("expected a ConfigError");
}

async function run(args: string[]) {
  const p = Bun.spawn([BIN, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { stdout, stderr, code };
}

const UPSTREAM_KEY = "xai-S3cretUpstreamKey0123456789";
const ADMIN_TOKEN = "S3cretAdminToken0123456789";

describe("a config file that does not parse", () => {
  test("serve exits 2 with one line naming the file and where, without the secret it holds", async () => {
    await ensureBinary();
    const cases: [string, string, string, string][] = [
      ["unquoted.toml", `port = 8080\nxai_api_key = ${UPSTREAM_KEY}\n`, UPSTREAM_KEY, "invalid TOML at line 2, column 15 (Strings must be quoted)"],
      ["unquoted-admin.toml", `admin_token = ${ADMIN_TOKEN}\n`, ADMIN_TOKEN, "invalid TOML at line 1, column 15 (Strings must be quoted)"],
      ["unquoted.json", `{\n  "port": 8080,\n  "admin_token": ${ADMIN_TOKEN}\n}\n`, ADMIN_TOKEN, "invalid JSON at line 3, column 18 (Unexpected identifier)"],
    ];
    for (const [name, text, secret, what] of cases) {
      const r = await run(["serve", "--config", file(name, text)]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`config file ${join(dir, name)}: ${what}\n`);
      expect(r.stdout + r.stderr).not.toContain(secret);
    }
  });

  test("no token the parser quotes is repeated; the kind of error stays", () => {
    const cases: [string, string, string][] = [
      ["key.toml", `${ADMIN_TOKEN} = 1\n${ADMIN_TOKEN} = 2\n`, "invalid TOML at line 2 (Cannot redefine key)"],
      ["escape.toml", `admin_token = "${ADMIN_TOKEN}\\q"\n`, "invalid TOML at line 1 (Invalid escape sequence)"],
      ["inline.toml", `[[providers]]\nid = "xai"\nheaders = { x-key = ${ADMIN_TOKEN} }\n`, "invalid TOML at line 3, column 21 (Strings must be quoted)"],
      ["found.toml", `admin_token = "x"\n${ADMIN_TOKEN}\n`, "invalid TOML at line 2 (Expected '=' after a key)"],
      ["escape.json", `{"admin_token": "\\q${ADMIN_TOKEN}"}`, "invalid JSON at line 1, column 18 (Invalid escape character)"],
      ["unicode.json", `{"admin_token": "\\u12G4${ADMIN_TOKEN}"}`, "invalid JSON at line 1, column 18 (the text is not a valid unicode escape)"],
      ["number.json", `{"port": 80${ADMIN_TOKEN}}`, "invalid JSON at line 1, column 10 (Expected '}')"],
      ["line.json", `{\n  "admin_token": "${ADMIN_TOKEN}\n"}`, "invalid JSON at line 2, column 18 (Unterminated string)"],
    ];
    for (const [name, text, what] of cases) {
      const message = configError(file(name, text));
      expect(message).toBe(`config file ${join(dir, name)}: ${what}`);
      expect(message).not.toContain(ADMIN_TOKEN.slice(0, 6));
    }
  });

  test("the grammar's own tokens, a truncated file and a whole-file problem still read usefully", () => {
    expect(configError(file("comma.json", '{"port": 8080,}'))).toEndWith("invalid JSON at line 1, column 15 (Property name must be a string literal)");
    expect(configError(file("empty.json", ""))).toEndWith("invalid JSON at line 1, column 1 (Unexpected EOF)");
    expect(configError(file("table.toml", "[timeouts\ntotal_ms = 1\n"))).toEndWith("invalid TOML at line 1 (Expected ']' to close a table header)");
    expect(configError(file("array.toml", "port = 1\nx = [\n1,\n"))).toEndWith("invalid TOML at line 2 (Unterminated array; expected ']')");
    expect(configError(file("array.json", "[1]"))).toEndWith("invalid JSON (not an object)");
  });

  test("a UTF-8 byte-order mark (saved by Windows editors) is no error, in JSON as in TOML", () => {
    // JSON.parse refused it as "invalid JSON at line 1, column 1", of a file that looks fine.
    expect(loadConfig({ file: file("bom.json", '\uFEFF{"port": 9000}'), env: {} }).port).toBe(9000);
    expect(loadConfig({ file: file("bom.toml", "\uFEFFport = 9000\n"), env: {} }).port).toBe(9000);
    // Where it does not parse, the place is still counted from the first visible character.
    expect(configError(file("bom-bad.json", '\uFEFF{"port": 9000,}'))).toMatch(/invalid JSON at line 1, column 15/);
  });

  test("a file in the other format than its name says is told so", () => {
    expect(configError(file("tollgate.conf", 'port = 8080\nadmin_token = "x"\n'))).toEndWith(
      "tollgate.conf: invalid JSON at line 1, column 1 (Unexpected identifier); the file reads as TOML: name it *.toml",
    );
    expect(configError(file("settings.toml", '{"port": 8080}'))).toEndWith("settings.toml: invalid TOML at line 1 (Expected a key); the file reads as JSON: name it *.json");
  });

  test("the JSON location is found exactly for the texts JSON.parse refuses", () => {
    // Seeded edits of a valid document: the scanner must refuse what JSON.parse refuses, no more.
    const base = JSON.stringify({ port: 8080, admin_token: "t\u00e9", a: [1, -2.5e3, true, null, "s\n"], o: { f: false } }, null, 2);
    const chars = ['"', "'", "[", "]", "{", "}", ",", ":", "\\", "\n", ".", "-", "+", "e", "0", "1", "x", " ", "\u0001"];
    let seed = 7;
    const next = (n: number) => (seed = (seed * 48271) % 2147483647) % n;
    for (let i = 0; i < 3000; i++) {
      let text = base;
      for (let edits = 1 + next(2); edits > 0; edits--) {
        const at = next(text.length + 1);
        text = text.slice(0, at) + (next(3) ? chars[next(chars.length)] : "") + text.slice(at + next(2));
      }
      let refused = false;
      try {
        JSON.parse(text);
      } catch {
        refused = true;
      }
      expect({ text, located: jsonErrorOffset(text) !== undefined }).toEqual({ text, located: refused });
    }
  });
});
