import { expect, setDefaultTimeout, test } from "bun:test";
import { ConfigError, loadConfig } from "../src/config/load";
import { startBinaryGateway } from "./support/gateway";

/**
 * Settings that travel as HTTP header values are checked at start, never echoed in the error:
 * HTTP strips blanks around a header value and cannot carry a line break, so an admin token or an
 * upstream key pasted with one (an env file saved on Windows, a key copied with its scheme) would
 * load in silence and then fail every request that presents it.
 */
setDefaultTimeout(60_000);

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

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
