import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { publicBase } from "../../identity/logins";
import { InviteView } from "../../identity/logins/model";
import { getMemberRow, listMemberRows } from "../../identity/members";
import { IdParams } from "../accounts/model";
import { getAccountRow } from "../accounts/service";
import { InvitedMember, InviteMemberBody, ListMembersQuery, MemberList, MemberView, ReinviteBody, RemovedMember, RemoveMemberQuery, UpdateMemberBody } from "./model";
import { inviteMember, reinviteMember, removeMember, setMemberBudget, setMemberRole } from "./service";
import { memberViews } from "./view";

/** Admin routes for an account's portal members: list, invite, change role or budget, remove (all audited). */
export const membersModule = (deps: ModuleDeps) => {
  const one = async (id: string) => {
    const m = await getMemberRow(deps.store, id);
    return (await memberViews(deps, m.accountId, [m]))[0]!;
  };
  const link = (actor: string, request: Request) => ({ ttlMs: deps.config.invite_ttl_hours * 3_600_000, actor, baseUrl: publicBase(deps, request) });
  return new Elysia({ prefix: "/admin", tags: ["admin"] })
    .use(deps.auth)
    .get("/accounts/:id/members", async ({ params, query }) => {
      await getAccountRow(deps.store, params.id);
      const rows = await listMemberRows(deps.store, params.id, { removed: query.removed === "true" });
      return { object: "list" as const, data: await memberViews(deps, params.id, rows) };
    }, {
      admin: true, params: IdParams, query: ListMembersQuery, response: MemberList,
      detail: { summary: "An account's portal members (owner first; ?removed=true includes removed ones), with keys, spend and budget" },
    })
    .post("/accounts/:id/members", async ({ params, body, actor, request, status }) => {
      const { member, invite } = await inviteMember(deps.store, { accountId: params.id, email: body.email, role: body.role, ...link(actor, request) }, deps.now());
      return status(201, { object: "member_invite" as const, member: await one(member.id), invite });
    }, {
      admin: true, params: IdParams, body: InviteMemberBody, response: { 201: InvitedMember },
      detail: { summary: "Invite a member by email with a role; the one-time link is returned only here (re-inviting ends the older link)" },
    })
    .get("/members/:id", ({ params }) => one(params.id), {
      admin: true, params: IdParams, response: MemberView, detail: { summary: "One member" },
    })
    .patch("/members/:id", async ({ params, body, actor }) => {
      const now = deps.now();
      if (body.role !== undefined) await setMemberRole(deps.store, params.id, body.role, actor, now);
      if (body.budget !== undefined) await setMemberBudget(deps.store, params.id, body.budget, actor, now);
      return one(params.id);
    }, {
      admin: true, params: IdParams, body: UpdateMemberBody, response: MemberView,
      detail: { summary: "Change a member's role (admin or member) or budget (audited; applies from the next request)" },
    })
    .delete("/members/:id", async ({ params, query, actor }) => {
      const r = await removeMember(deps.store, params.id, query.grace_seconds, actor, deps.now());
      return { ...(await one(params.id)), revoked_keys: r.keys, keys_stop_at: Math.floor(r.stopAt / 1000) };
    }, {
      admin: true, params: IdParams, query: RemoveMemberQuery, response: RemovedMember,
      detail: { summary: "Remove a member: signed out now; their keys stop after grace_seconds (0 = now)" },
    })
    .post("/members/:id/invite", async ({ params, actor, request, status }) => status(201, await reinviteMember(deps.store, params.id, link(actor, request), deps.now())), {
      admin: true, params: IdParams, body: ReinviteBody.optional(), response: { 201: InviteView },
      detail: { summary: "A new one-time link for a member (a password reset once they signed up); their older links end" },
    });
};
