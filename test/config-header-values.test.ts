import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/load";
import { startBinaryGateway } from "./support/gateway";
import { configError } from "./support/config-error";

/**
 * Settings that travel as HTTP header values are checked at start, never echoed in the error:
 * HTTP strips blanks around a header value and cannot carry a line break, so an admin token or an
 * upstream key pasted with one (an env file saved on Windows, a key copied with its scheme) would
 * load in silence and then fail every request that presents it.
 */
setDefaultTimeout(60_000);
const dir = mkdtempSync(join(tmpdir(), "tollgate-header-values-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TOKEN = "operator-admin-token-0123456789";

test("an admin token with a blank or a line break is refused at start, naming the setting and not the token", async () => {
  for (const token of [`${TOKEN} `, `${TOKEN}\r`, ` ${TOKEN}`, "operator admin token 0123", `${TOKEN}\tx`]) {
    const message = configError(() => loadConfig({ env: { TOLLGATE_ADMIN_TOKEN: token } }));
    expect(message).toStartWith("invalid config: admin_token (env TOLLGATE_ADMIN_TOKEN): printable ASCII without blanks");
    expect(message).not.toContain("operator");
  }
  // Before this check, `serve` started and answered 401 to the token as typed and as pasted.
  let startError = "";
  const gw = await startBinaryGateway({ adminToken: `${TOKEN} `, entry: "source" }).catch((e: Error) => {
    startError = e.message;
  });
  if (gw) await gw.stop("SIGKILL");
  expect(startError).toContain("exited (2) before listening: invalid config: admin_token (env TOLLGATE_ADMIN_TOKEN)");
  expect(startError).not.toContain(TOKEN);
});

test("the same token without the blank opens /admin over HTTP", async () => {
  const gw = await startBinaryGateway({ adminToken: TOKEN, entry: "source" });
  try {
    const res = await fetch(`${gw.url}/admin/accounts`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
  } finally {
    await gw.stop("SIGKILL");
  }
});

test("upstream keys in one string are split on commas and line breaks only: a key with a blank inside is an error naming where it was set", () => {
  const keys = (env: Record<string, string>, providers?: unknown[]) => loadConfig({ env, overrides: providers ? { providers } : {} }).providers[0]!.api_keys;
  expect(keys({ XAI_API_KEY: " xai-a, xai-b\r\nxai-c\n\n" })).toEqual(["xai-a", "xai-b", "xai-c"]);
  // Pasted with its scheme, the key was split into two, and every other request went upstream as "Bearer".
  expect(configError(() => keys({ XAI_API_KEY: "Bearer xai-0123456789abcdef" }))).toBe(
    "invalid config: providers.xai: upstream key 1 has a character an HTTP header cannot carry (a space, a line break, a smart quote?), given in xai_api_key (env XAI_API_KEY)",
  );
  const provider = { id: "xai", base_url: "https://api.x.ai/v1" };
  const spaced = configError(() => keys({ UP_KEYS: "up-a,up secret-b" }, [{ ...provider, api_key_env: "UP_KEYS" }]));
  expect(spaced).toEndWith("upstream key 2 has a character an HTTP header cannot carry (a space, a line break, a smart quote?), given in env UP_KEYS");
  expect(spaced).not.toContain("secret");
  const file = join(dir, "keys.txt");
  writeFileSync(file, "up-a\r\nup-b\tsecret\r\n");
  expect(configError(() => keys({}, [{ ...provider, api_key_file: file }]))).toEndWith(`upstream key 2 has a character an HTTP header cannot carry (a space, a line break, a smart quote?), given in the file ${file}`);
  writeFileSync(file, "up-a\r\n up-b \r\n");
  expect(keys({}, [{ ...provider, api_key_file: file }])).toEqual(["up-a", "up-b"]);
});
