import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, ensureBinary } from "./support/binary";

/**
 * `tollgate models sync` replaces the config file it writes (docs/operations.md: root-owned,
 * readable by the tollgate group): the new file keeps its owner, group and mode, a symlink stays
 * one, and a file whose owner cannot be kept is left alone. Owners need root: 65534
 * (nobody/nogroup) stands in for the service's user and group.
 */
setDefaultTimeout(60_000);
const dir = mkdtempSync(join(tmpdir(), "tollgate-sync-file-"));
chmodSync(dir, 0o755);
const KEY = "xai-upstream-key-123";
const SERVICE = 65534;
const asRoot = process.getuid?.() === 0;
const LANGUAGE = {
  models: [
    {
      id: "grok-4.7", fingerprint: "fp_2", created: 1789948800, object: "model", owned_by: "xai", version: "1.0",
      input_modalities: ["text"], output_modalities: ["text"], aliases: [],
      prompt_text_token_price: 20000, cached_prompt_text_token_price: 5000, prompt_image_token_price: 20000, completion_text_token_price: 60000,
      search_price: 0, prompt_text_token_price_long_context: 0, cached_prompt_text_token_price_long_context: 0,
      completion_text_token_price_long_context: 0, long_context_threshold: 0,
    },
  ],
};
const upstream = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/v1/language-models") return Response.json(LANGUAGE);
    if (path === "/v1/image-generation-models") return Response.json({ models: [] });
    return new Response("not found", { status: 404 });
  },
});
afterAll(() => {
  upstream.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

/** A config whose grok-4.7 output price ($15) differs from xAI's ($6), so every sync writes. */
const config = (db: string) =>
  JSON.stringify({
    db_path: db,
    providers: [{ id: "xai", base_url: `http://127.0.0.1:${upstream.port}/v1`, api_key: KEY }],
    models: [{ id: "grok-4.7", provider: "xai", input_price: 3, output_price: 15 }],
  });

async function sync(file: string, as: string[] = []) {
  const p = Bun.spawn([...as, BIN, "models", "sync", "--config", file], { cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { stdout, stderr, code };
}

/** A folder holding a config file with this owner, group and mode. */
function configIn(name: string, uid: number, gid: number, mode: number): { folder: string; file: string } {
  const folder = join(dir, name);
  mkdirSync(folder, { mode: 0o755 });
  const file = join(folder, "tollgate.json");
  writeFileSync(file, config(join(folder, "tollgate.db")));
  chownSync(file, uid, gid);
  chmodSync(file, mode);
  return { folder, file };
}

const owner = (file: string) => {
  const st = statSync(file);
  return { uid: st.uid, gid: st.gid, mode: st.mode & 0o777 };
};

describe("models sync replaces the config file as it found it", () => {
  test.skipIf(!asRoot)("root:tollgate 0640 stays root:tollgate 0640, and a file of the service's user stays its", async () => {
    await ensureBinary();
    for (const [name, uid, gid, mode] of [["group", 0, SERVICE, 0o640], ["user", SERVICE, SERVICE, 0o600]] as const) {
      const { folder, file } = configIn(name, uid, gid, mode);
      const r = await sync(file);
      expect(r.code).toBe(0);
      expect(readFileSync(file, "utf8")).toContain('"output_price": 6');
      expect(owner(file)).toEqual({ uid, gid, mode });
      expect(readdirSync(folder).filter((f) => f.includes(".sync"))).toEqual([]);
    }
  });

  test("through a symlink, the file it points to is updated and the link stays", async () => {
    await ensureBinary();
    const [uid, gid] = asRoot ? [0, SERVICE] : [process.getuid?.() ?? 0, process.getgid?.() ?? 0];
    const { folder, file: real } = configIn("linked", uid, gid, 0o640);
    const link = join(dir, "link.json");
    symlinkSync("linked/tollgate.json", link);
    const r = await sync(link);
    expect(r.code).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, "utf8")).toContain('"output_price": 6');
    expect(owner(real)).toEqual({ uid, gid, mode: 0o640 });
    expect(readdirSync(folder).filter((f) => f.includes(".sync"))).toEqual([]);
    expect(readdirSync(dir).filter((f) => f.includes(".sync"))).toEqual([]);
  });

  test("a file saved with a byte-order mark (as the config loads it) is synced, the mark dropped", async () => {
    await ensureBinary();
    const { file } = configIn("bom", process.getuid?.() ?? 0, process.getgid?.() ?? 0, 0o640);
    writeFileSync(file, `\uFEFF${readFileSync(file, "utf8")}`);
    const r = await sync(file);
    expect({ code: r.code, stderr: r.stderr.replace(/^note: .*\n/gm, "") }).toEqual({ code: 0, stderr: "" });
    expect(readFileSync(file, "utf8")).toStartWith("{");
    expect(readFileSync(file, "utf8")).toContain('"output_price": 6');
  });

  test.skipIf(!asRoot || !existsSync("/usr/bin/setpriv"))("a group the user may not give is refused: the file is left as it was", async () => {
    await ensureBinary();
    // The service's user syncs a file of its own whose group (root) it is not in.
    const { folder, file } = configIn("refused", SERVICE, 0, 0o640);
    chownSync(folder, SERVICE, SERVICE);
    const before = readFileSync(file, "utf8");
    const r = await sync(file, ["/usr/bin/setpriv", `--reuid=${SERVICE}`, `--regid=${SERVICE}`, "--clear-groups"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: models sync: cannot give the new ${file} its owner and group (${SERVICE}:0: EPERM); left as it was: run it as root or as the file's owner\n`);
    expect(readFileSync(file, "utf8")).toBe(before);
    expect(owner(file)).toEqual({ uid: SERVICE, gid: 0, mode: 0o640 });
    expect(readdirSync(folder).filter((f) => f.includes(".sync"))).toEqual([]);
  });
});
