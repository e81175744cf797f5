/**
 * A request path is logged without the gateway's own secrets: a customer key of whatever
 * `key_prefix` is configured, a generated admin token (`tg-admin-…`) and the configured one.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { ADMIN_TOKEN } from "./support/gateway";
import { startLogged, type LoggedGateway } from "./support/logged-gateway";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { redactSecrets } from "../src/lib/redact-secrets";

setDefaultTimeout(120_000);
let gw: LoggedGateway;
beforeAll(async () => {
  gw = await startLogged({ key_prefix: "tg_live_" });
});
afterAll(async () => {
  await gw?.stop();
});

const paths = () => gw.lines().filter((l) => l.msg === "request").map((l) => String(l.path));

test("a customer key of the configured prefix and admin tokens in a request path are not logged", async () => {
  const c = await gw.customer(1_000_000);
  expect(c.key.startsWith("tg_live_")).toBe(true);
  const generated = `tg-admin-${"Ab3".repeat(13)}x`;
  await (await fetch(`${gw.url}/v1/${c.key}/chat/completions`)).text();
  await (await fetch(`${gw.url}/admin/keys/${c.key}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  await (await fetch(`${gw.url}/admin/keys/${generated}`)).text();
  await (await fetch(`${gw.url}/portal/${ADMIN_TOKEN}/x`)).text();
  // The key with every character percent-encoded (a client's URL may spell it so).
  const spelled = [...c.key].map((ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`).join("");
  await (await fetch(`${gw.url}/v1/models/${spelled}`)).text();
  await Bun.sleep(50);
  const out = gw.out();
  expect(out).not.toContain(spelled.slice(24, 90));
  expect(out).not.toContain(c.key);
  expect(out).not.toContain(c.key.slice(8, 30));
  expect(out).not.toContain(generated.slice(9));
  expect(out).not.toContain(ADMIN_TOKEN);
  expect(paths()).toContain("/v1/[redacted]/chat/completions");
  expect(paths()).toContain("/admin/keys/[redacted]");
  expect(paths()).toContain("/portal/[redacted]/x");
  expect(paths()).toContain("/v1/models/[redacted]");
  // Ids stay readable.
  await (await fetch(`${gw.url}/admin/keys/${c.keyId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  await Bun.sleep(50);
  expect(paths()).toContain(`/admin/keys/${c.keyId}`);
});

test("keys made under an earlier key_prefix are redacted too, once the prefix has changed", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-prefixes-"));
  try {
    const db = join(dir, "t.db");
    const before = await startLogged({ key_prefix: "acme_", db_path: db });
    const old = await before.customer(1_000_000);
    await before.stop();
    const after = await startLogged({ key_prefix: "tg_new_", db_path: db });
    try {
      await (await fetch(`${after.url}/v1/${old.key}/chat/completions`)).text();
      const fresh = await after.customer(1_000_000);
      await (await fetch(`${after.url}/v1/models/${fresh.key}`)).text();
      await Bun.sleep(50);
      expect(after.out()).not.toContain(old.key.slice(5, 30));
      expect(after.out()).not.toContain(fresh.key.slice(7, 30));
      const logged = after.lines().filter((l) => l.msg === "request").map((l) => String(l.path));
      expect(logged).toContain("/v1/[redacted]/chat/completions");
      expect(logged).toContain("/v1/models/[redacted]");
    } finally {
      await after.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("redactSecrets: the prefix followed by its random part, not an id that merely contains it", () => {
  const c = { key_prefix: "tg.live-" };
  expect(redactSecrets("/a/tg.live-0123456789abcdefXYZ/b", c)).toBe("/a/[redacted]/b");
  // Regular-expression characters in the prefix are literal.
  expect(redactSecrets("/a/tgXlive-0123456789abcdef/b", c)).toBe("/a/tgXlive-0123456789abcdef/b");
  expect(redactSecrets("/a/xtg.live-0123456789abcdef", c)).toBe("/a/xtg.live-0123456789abcdef");
  expect(redactSecrets("/a/tg.live-short", c)).toBe("/a/tg.live-short");
  // Percent-encoded, in part or whole: decoded, and logged decoded with the key out.
  expect(redactSecrets("/a/tg.live-0123456789%61bcdef/b%20c", c)).toBe("/a/[redacted]/b c");
  expect(redactSecrets("/a/%74%67%2E%6C%69%76%65%2D%30%31%32%33%34%35%36%37%38%39", c)).toBe("/a/[redacted]");
  // Several prefixes (the configured one and earlier ones), one a prefix of another.
  const both = { key_prefix: "sk-tg-", key_prefixes: ["sk-", "sk-tg-"] };
  expect(redactSecrets("/a/sk-tg-0123456789abcdef/b/sk-0123456789abcdef", both)).toBe("/a/[redacted]/b/[redacted]");
  // Escapes with no secret behind them are logged as they came.
  expect(redactSecrets("/a/tg.live-short%20x", c)).toBe("/a/tg.live-short%20x");
  expect(redactSecrets("/x/my token+1%2F", { key_prefix: "sk-tg-", admin_token: "my token+1/" })).toBe("/x/[redacted]");
  expect(redactSecrets(`/x/${encodeURIComponent("my token+1/")}`, { key_prefix: "sk-tg-", admin_token: "my token+1/" })).toBe("/x/[redacted]");
});

test("the admin token is redacted however a client's URL spells it", () => {
  for (const token of ["ops: correct horse battery", "pässwort=geheim-0123456789", "tok{en}+0123456789abcdef"]) {
    const pathname = new URL(`http://gw.example/portal/${token}/x`).pathname;
    expect(redactSecrets(pathname, { key_prefix: "sk-tg-", admin_token: token })).toBe("/portal/[redacted]/x");
    // Escapes in lower case decode alike.
    expect(redactSecrets(pathname.toLowerCase(), { key_prefix: "sk-tg-", admin_token: token })).toBe("/portal/[redacted]/x");
  }
  // A broken escape is left as it came (never a 500 of the log).
  expect(redactSecrets("/portal/%E0%A4%A/x", { key_prefix: "sk-tg-", admin_token: "secret-token-0123" })).toBe("/portal/%E0%A4%A/x");
});

test("the admin token across a '/' (a base64 token quoted as Python quotes it) or next to a broken escape is redacted", () => {
  const token = "q8Zr+Tn4/wXk2Lm9pQ==";
  const quoted = new URL("http://gw.example/admin/keys/q8Zr%2BTn4/wXk2Lm9pQ%3D%3D").pathname;
  expect(redactSecrets(quoted, { key_prefix: "sk-tg-", admin_token: token })).toBe("/admin/keys/[redacted]");
  const broken = new URL("http://gw.example/portal/%zz%73ecret-token-0123/x").pathname;
  expect(redactSecrets(broken, { key_prefix: "sk-tg-", admin_token: "secret-token-0123" })).toBe("/portal/%zz[redacted]/x");
});
