import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chat, user } from "./support/chat";
import { startGateway, type Gateway } from "./support/gateway";
import { join, portalKey } from "./support/teams";

/**
 * A member removed with a grace keeps keys that work, and bill the account, until the grace ends.
 * What the operator and the owner are told of those keys is true: the removal's answer, the member
 * list and the owner's Members page count them and say when they stop, and removing the member
 * again with a shorter grace (a key leaked) stops them sooner, never later.
 */
let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({ upstream: true });
});
afterAll(() => gw.stop());

let n = 0;
const email = (who: string) => `${who}-${++n}-${Date.now()}@example.com`;
const ask = (key: string) => chat(gw.url, key, { model: "grok-4", max_tokens: 50, messages: user("hi"), mock: { prompt_tokens: 10, completion_tokens: 50 } });
const nowSec = () => Math.floor(Date.now() / 1000);
const WEEK = 604_800;

type Removed = { status: string; active_keys: number; keys_work_until: number | null; budget_status: { spent_micros: number } | null; revoked_keys: string[]; keys_stop_at: number };
const remove = async (memberId: string, grace: number) => {
  const res = await gw.admin(`/admin/members/${memberId}?grace_seconds=${grace}`, { method: "DELETE" });
  expect(res.status).toBe(200);
  return (await res.json()) as Removed;
};
const actions = (target: string) =>
  gw.runtime.deps.store.sqlite.query<{ action: string }, [string]>("SELECT action FROM audit_log WHERE target_id = ? ORDER BY id").all(target).map((r) => r.action);
const expiresAt = (keyId: string) => gw.runtime.deps.store.sqlite.query<{ expires_at: number | null }, [string]>("SELECT expires_at FROM api_keys WHERE id = ?").get(keyId)!.expires_at;

/** An account with an owner and a member signed in, and a key the member made. */
async function team() {
  const c = await gw.customer(5_000_000);
  const owner = await join(gw, c.accountId, "owner", email("owner"));
  const member = await join(gw, c.accountId, "member", email("member"));
  const key = await portalKey(gw, member.w, "theirs");
  return { ...c, owner, member, key };
}

describe("removing a removed member again", () => {
  test("with grace 0, the keys still in their grace are revoked now, listed, and stop at once", async () => {
    const t = await team();
    const first = await remove(t.member.memberId, WEEK);
    expect(first.keys_stop_at).toBeGreaterThan(nowSec() + WEEK - 60);
    // The operator learns the key leaked and removes the member again, with no grace.
    const again = await remove(t.member.memberId, 0);
    expect({ revoked: again.revoked_keys, stops_now: Math.abs(again.keys_stop_at - nowSec()) <= 2, keys: again.active_keys })
      .toEqual({ revoked: [t.key.id], stops_now: true, keys: 0 });
    expect((await ask(t.key.key)).status).toBe(401);
    // The second removal changed keys: audited as such.
    expect(actions(t.member.memberId)).toEqual(["member.remove", "member.remove"]);
    // A third finds no key working: it says so and changes nothing.
    expect(await remove(t.member.memberId, 0)).toMatchObject({ revoked_keys: [], active_keys: 0 });
    expect(actions(t.member.memberId)).toEqual(["member.remove", "member.remove"]);
  });

  test("a shorter grace brings the keys' stop forward; a longer one never extends it", async () => {
    const t = await team();
    await remove(t.member.memberId, WEEK);
    const sooner = await remove(t.member.memberId, 3600);
    expect(Math.abs(sooner.keys_stop_at - (nowSec() + 3600))).toBeLessThanOrEqual(2);
    expect(Math.floor(expiresAt(t.key.id)! / 1000)).toBe(sooner.keys_stop_at);
    const later = await remove(t.member.memberId, WEEK);
    // The answer states the real stop (the hour), and the key's expiry is untouched.
    expect({ stop: later.keys_stop_at, keys: later.revoked_keys }).toEqual({ stop: sooner.keys_stop_at, keys: [t.key.id] });
    expect(Math.floor(expiresAt(t.key.id)! / 1000)).toBe(sooner.keys_stop_at);
    expect((await ask(t.key.key)).status).toBe(200);
  });
});

describe("a removed member whose keys still work", () => {
  test("the removal's answer and the member list (removed=true) count those keys, when they stop and the budget", async () => {
    const t = await team();
    expect((await gw.admin(`/admin/members/${t.member.memberId}`, { method: "PATCH", body: { budget: { period: "month", amount_micros: 3_000_000 } } })).status).toBe(200);
    const del = await remove(t.member.memberId, WEEK);
    expect((await ask(t.key.key)).status).toBe(200); // the key still works and bills the account
    const list = (await (await gw.admin(`/admin/accounts/${t.accountId}/members?removed=true`)).json()) as { data: (Removed & { id: string })[] };
    const row = list.data.find((x) => x.id === t.member.memberId)!;
    expect({ answer: del.active_keys, list: row.active_keys, status: row.status, until: row.keys_work_until }).toEqual({
      answer: 1, list: 1, status: "removed", until: del.keys_stop_at,
    });
    expect(row.budget_status?.spent_micros).toBeGreaterThan(0);
    // Once no key works, a removed member shows none, and no budget standing.
    await remove(t.member.memberId, 0);
    const gone = (await (await gw.admin(`/admin/members/${t.member.memberId}`)).json()) as Removed;
    expect({ keys: gone.active_keys, until: gone.keys_work_until, budget: gone.budget_status }).toEqual({ keys: 0, until: null, budget: null });
  });

  test("the owner's Members page shows them, removed, with when their keys stop; revoking them there stops the keys", async () => {
    const t = await team();
    const leaving = await remove(t.member.memberId, WEEK);
    const rowOf = (html: string) => {
      const at = html.indexOf(`data-member-id="${t.member.memberId}"`);
      return at < 0 ? null : html.slice(at, html.indexOf("</tr>", at));
    };
    const found = rowOf((await t.owner.w.page("/portal/members")).html);
    expect(found === null ? "not listed" : "listed").toBe("listed");
    const row = found!;
    expect(row).toContain('<span class="badge warn">removed</span>');
    expect(row).toMatch(/data-testid="keys-stop">Removed; their keys stop <span title="[^"]+">in 6 days</);
    expect(row).toContain(">Revoke keys now</button>");
    expect(row).not.toContain("Set budget");
    expect(leaving.keys_work_until).toBe(leaving.keys_stop_at);
    const res = await t.owner.w.submit("/portal/members", `/portal/members/${t.member.memberId}/remove`, { grace_seconds: "0" });
    expect(res.status).toBe(303);
    expect(decodeURIComponent(res.headers.get("set-cookie") ?? "")).toContain("was removed already, 1 key(s) revoked");
    expect((await ask(t.key.key)).status).toBe(401);
    expect(rowOf((await t.owner.w.page("/portal/members")).html)).toBeNull();
  });
});
