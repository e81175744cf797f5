import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, ensureBinary } from "./support/binary";
import { chat, user } from "./support/chat";
import { fakeCatalogue, startFakeUpstream } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";
import { accept, preTeamsDatabase, signIn } from "./support/teams";
import { WebClient } from "./support/web-client";

/**
 * Teams through the compiled binary: it upgrades a database of the time before teams (the one
 * login becomes the owner; its session, key and invite link keep working), and the members
 * commands work on the database of the running server, which applies them from the next request.
 */
setDefaultTimeout(120_000);
const dir = mkdtempSync(join(tmpdir(), "tollgate-teams-bin-"));
const dbPath = join(dir, "tollgate.db");
const upstream = startFakeUpstream();
let gw: BinaryGateway | undefined;
afterAll(async () => {
  await gw?.stop("SIGKILL");
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([BIN, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir, TOLLGATE_DB: dbPath }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}
const json = async <T>(args: string[]): Promise<T> => {
  const r = await cli([...args, "--json"]);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
};

describe("teams in the compiled binary", () => {
  test("upgrades a database from before teams, and the members commands reach the running server", async () => {
    await ensureBinary();
    const old = await preTeamsDatabase(dbPath);
    writeFileSync(join(dir, "tollgate.json"), JSON.stringify({ ...fakeCatalogue(upstream.url), db_path: dbPath }));
    gw = await startBinaryGateway({ dir, configFile: "tollgate.json" });
    // The old login, session, key and invite link work after the upgrade.
    expect((await signIn(gw.url, old.email, old.password)).status).toBe(303);
    const session = new WebClient(gw.url);
    session.cookies.set("tg_portal", old.session);
    expect((await session.page("/portal/members")).html).toContain(old.email);
    expect((await chat(gw.url, old.key, { model: "grok-4", messages: user(), mock: { prompt_tokens: 3, completion_tokens: 3 } })).status).toBe(200);
    expect((await new WebClient(gw.url).get(`/portal/invite/${old.inviteToken}`)).status).toBe(200);

    // The operator invites a member from the command line; they join through the running server.
    const invited = await json<{ member: { id: string; role: string }; invite: { url: string } }>(["members", "invite", old.accountId, "dev@example.com", "--role", "member"]);
    expect(invited.member.role).toBe("member");
    const dev = await accept(gw.url, invited.invite.url.replace(/^http:\/\/[^/]+/, gw.url), "dev@example.com");
    expect((await dev.submit("/portal/keys", "/portal/keys", { name: "dev key" })).status).toBe(303);
    const devKey = /<code id="new-key">([^<]+)</.exec((await dev.page("/portal/keys")).html)![1]!;
    expect((await dev.page("/portal/keys")).html).not.toContain(old.keyId);
    expect((await dev.get("/portal/members")).status).toBe(403);

    const list = await json<{ data: { id: string; email: string; role: string; status: string; active_keys: number }[] }>(["members", "list", old.accountId]);
    expect(list.data.map((m) => [m.email, m.role, m.status, m.active_keys])).toEqual([
      [old.email, "owner", "active", 1],
      ["dev@example.com", "member", "active", 1],
    ]);
    // A role change from another process applies on the member's next page.
    expect((await json<{ role: string }>(["members", "role", invited.member.id, "admin"])).role).toBe("admin");
    expect((await dev.page("/portal/keys")).html).toContain(old.keyId);
    const budget = await json<{ budget: unknown }>(["members", "budget", invited.member.id, "0.00001", "--period", "day"]);
    expect(budget.budget).toEqual({ period: "day", amount_micros: 10 });
    const refused = await chat(gw.url, devKey, { model: "grok-4", messages: user() });
    expect(refused.status).toBe(402);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("budget_exhausted");

    const removed = await json<{ status: string; revoked_keys: string[] }>(["members", "remove", invited.member.id, "--grace", "0"]);
    expect(removed.status).toBe("removed");
    expect(removed.revoked_keys).toHaveLength(1);
    expect((await chat(gw.url, devKey, { model: "grok-4", messages: user() })).status).toBe(401);
    expect((await dev.get("/portal")).headers.get("location")).toStartWith("/portal/login");
    // The owner stays the owner; usage errors are exit code 2, refusals 1.
    expect((await cli(["members", "remove", list.data[0]!.id])).code).toBe(1);
    expect((await cli(["members", "role", invited.member.id, "owner"])).code).toBe(2);
    expect((await cli(["members", "invite", old.accountId])).code).toBe(2);
    const help = await cli(["members", "--help"]);
    expect(help.code).toBe(0);
    for (const sub of ["list", "invite", "role", "budget", "remove"]) expect(help.stdout).toContain(`  ${sub} `);
  });
});
