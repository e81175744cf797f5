import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { ApiError, errors } from "../../lib/errors";
import { redacted } from "../../lib/log";
import { Mailer } from "../../lib/mailer";
import { MAX_BALANCE_MICROS, microsToUsd } from "../../money/units";
import { publicBase } from "../../identity/logins";
import { Email } from "../../identity/logins/model";
import { getMemberRow, listMemberRows, type MemberRow } from "../../identity/members";
import { Reveals } from "../../identity/reveals";
import { takeAttempt } from "../../identity/sessions";
import { inviteMember, reinviteMember, removeMember, setMemberBudget, setMemberRole } from "../../modules/members/service";
import { memberViews } from "../../modules/members/view";
import { field, typedUsd } from "../forms";
import { redirectResponse } from "../html";
import type { PortalUser } from "../session";
import { hide, portalKit, type PortalKit } from "./page-kit";
import { membersView } from "./views/members";

type Invited = { email: string; url: string };

/** What the Members page's handlers share: the one-shot links, the mailer, and looking members up. */
function membersKit(deps: ModuleDeps, kit: PortalKit) {
  const reveals = new Reveals<Invited>(deps.store, "member-invite", deps.now);
  // A mailed link proves its address, so its host must be the configured one, never the request's.
  const mailer = deps.config.smtp_host && deps.config.public_url ? new Mailer(deps.config) : null;
  return {
    reveals,
    /** With SMTP a link to an address is mailed only: shown, its inviter could accept it as anyone. */
    link: (u: PortalUser, request: Request, email: string | null) => ({
      ttlMs: deps.config.invite_ttl_hours * 3_600_000, actor: kit.actor(u), baseUrl: publicBase(deps, request), mailedOnly: Boolean(mailer && email),
    }),
    /** A member of the signed-in account; another account's looks like a missing one. */
    async ours(u: PortalUser, id: string): Promise<MemberRow> {
      const m = await getMemberRow(deps.store, id).catch(() => null);
      if (!m || m.accountId !== u.account.id) throw errors.notFound("Member");
      return m;
    },
    /** Runs a change; a refused one goes back to the page with its message. */
    async attempt(request: Request, fn: () => Promise<Response>): Promise<Response> {
      try {
        return await fn();
      } catch (e) {
        if (e instanceof ApiError && e.status < 500) return kit.back(request, "/portal/members", "error", e.message);
        throw e;
      }
    },
    /**
     * Refuses an invitation past the account's hourly allowance, mailed or not: each one also
     * tells whether the email signs in to another account, which must not be probed at will.
     */
    allowance(u: PortalUser): void {
      const wait = takeAttempt([deps.throttles.invites, u.account.id]);
      if (wait > 0) throw errors.badRequest(`This account has sent too many invitations in the last hour. Try again in ${Math.ceil(wait / 60_000)} minutes.`);
    },
    /** Emails the link when SMTP is configured (made mailedOnly by `link`), else shows it once on the next page. */
    async reveal(request: Request, u: PortalUser, email: string | null, url: string): Promise<Response> {
      if (!mailer || !email) {
        await reveals.put(u.session.token, { email: email ?? "", url });
        return redirectResponse("/portal/members");
      }
      mailer.send({ to: email, subject: `You are invited to ${u.account.name} on Tollgate`, text: `Set your password and sign in here (the link works once):\n\n${url}\n` })
        .catch((e) => console.error(`an invitation email of ${u.account.id} failed:`, redacted(e)));
      const hours = deps.config.invite_ttl_hours;
      return kit.back(request, "/portal/members", "ok", `We emailed ${email} a one-time link to set a password and sign in (valid ${hours} hours).`);
    },
  };
}

/** The links to show, oldest first: of two for one address only the newer works (each invite ends the ones before it). */
function newestPerEmail(links: Invited[]): Invited[] {
  return links.filter((v, i) => !v.email || !links.slice(i + 1).some((later) => later.email === v.email));
}

/** The budget form: an amount (empty: none) and a period, or what is wrong with them. */
function readBudget(body: unknown): { micros: number | null; period: "day" | "week" | "month" } | string {
  const text = field(body, "budget_usd").trim();
  const period = field(body, "budget_period") || "month";
  if (period !== "day" && period !== "week" && period !== "month") return "Choose the budget's period from the list.";
  let micros: number | null = null;
  try {
    micros = text ? typedUsd(text) : null;
  } catch {
    micros = -1;
  }
  if (micros !== null && micros <= 0) return "The budget must be a positive amount in USD, e.g. 200 (or empty for none).";
  // The API shows budgets up to this much only: more would break every answer naming the member.
  if (micros !== null && micros > MAX_BALANCE_MICROS) return `The budget can be at most ${microsToUsd(MAX_BALANCE_MICROS)} USD.`;
  return { micros, period };
}

/** The members on the page: the live ones, then the removed ones whose keys still work (and bill). */
async function teamViews(deps: ModuleDeps, accountId: string) {
  const views = await memberViews(deps, accountId, await listMemberRows(deps.store, accountId, { removed: true }));
  return [...views.filter((v) => v.status !== "removed"), ...views.filter((v) => v.status === "removed" && v.active_keys > 0)];
}

/**
 * The owner's Members page (the portal macro refuses it to other roles): invite by email with a
 * role, change roles and budgets, remove with a grace for the member's keys. Everything audited.
 */
export const membersPages = (deps: ModuleDeps) => {
  const kit = portalKit(deps);
  const m = membersKit(deps, kit);
  const done = (request: Request, message: string) => kit.back(request, "/portal/members", "ok", message);
  return new Elysia()
    .use(deps.webAuth)
    .get("/portal/members", ({ request, user }) => kit.safe(request, async () => kit.render(request, user, "members", "Members", membersView({
      csrf: user.session.csrf, members: await teamViews(deps, user.account.id),
      invited: newestPerEmail(await m.reveals.take(user.session.token)), disabled: kit.suspended(user), now: deps.now(), timeZone: deps.credits.budgetClock.timeZone,
    }))), hide())
    .post("/portal/members", ({ request, user, body }) => kit.safe(request, () => m.attempt(request, async () => {
      const role = field(body, "role") === "admin" ? "admin" : "member";
      // The rule the invite's acceptance form holds to: a link it refuses is no invitation.
      const parsed = Email.safeParse(field(body, "email"));
      if (!parsed.success) return kit.back(request, "/portal/members", "error", "Enter a valid email address.");
      const email = parsed.data;
      m.allowance(user);
      const r = await inviteMember(deps.store, { accountId: user.account.id, email, role, ...m.link(user, request, email) }, deps.now());
      return m.reveal(request, user, email, r.invite.url);
    })), hide())
    .post("/portal/members/:id/invite", ({ request, user, params }) => kit.safe(request, () => m.attempt(request, async () => {
      const member = await m.ours(user, params.id);
      m.allowance(user);
      return m.reveal(request, user, member.email, (await reinviteMember(deps.store, member.id, m.link(user, request, member.email), deps.now())).url);
    })), hide())
    .post("/portal/members/:id/role", ({ request, user, params, body }) => kit.safe(request, () => m.attempt(request, async () => {
      const member = await m.ours(user, params.id);
      const role = field(body, "role") === "admin" ? "admin" : "member";
      await setMemberRole(deps.store, member.id, role, kit.actor(user), deps.now());
      return done(request, `${member.email ?? "The member"} is now ${role === "admin" ? "an admin" : "a member"}.`);
    })), hide())
    .post("/portal/members/:id/budget", ({ request, user, params, body }) => kit.safe(request, () => m.attempt(request, async () => {
      const member = await m.ours(user, params.id);
      const b = readBudget(body);
      if (typeof b === "string") return kit.back(request, "/portal/members", "error", b);
      await setMemberBudget(deps.store, member.id, b.micros === null ? null : { period: b.period, amount_micros: b.micros }, kit.actor(user), deps.now());
      return done(request, b.micros === null ? `${member.email ?? "The member"} has no budget now.` : `Budget of ${member.email ?? "the member"} set.`);
    })), hide())
    .post("/portal/members/:id/remove", ({ request, user, params, body }) => kit.safe(request, () => m.attempt(request, async () => {
      const member = await m.ours(user, params.id);
      const grace = Number(field(body, "grace_seconds") || 0);
      if (![0, 3600, 86400, 604800].includes(grace)) return kit.back(request, "/portal/members", "error", "Choose when their keys should stop working.");
      const r = await removeMember(deps.store, member.id, grace, kit.actor(user), deps.now());
      const keys = r.keys.length === 0 ? "they had no working keys" : grace === 0 ? `${r.keys.length} key(s) revoked` : `${r.keys.length} key(s) stop working later`;
      // Removed already (their keys in the grace): this removal only stops the keys sooner.
      return done(request, `${member.email ?? "The member"} was removed${member.removedAt === null ? ": signed out" : " already"}, ${keys}.`);
    })), hide());
};
