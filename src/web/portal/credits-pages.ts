import { balanceForShow, readForShow } from "../../money/credit-store";
import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { ApiError } from "../../lib/errors";
import { microsToUsd } from "../../money/units";
import { throttledRedeem } from "../../modules/codes/redeem";
import { field } from "../forms";
import type { PortalUser } from "../session";
import { hide, portalKit, type PortalKit } from "./page-kit";
import { ledgerPage, type LedgerKinds } from "./service";
import { creditsView } from "./views/credits";

/** The balance and its ledger (credits, charges), and redeeming a credit code. */
export const creditsPages = (deps: ModuleDeps) => {
  const kit = portalKit(deps);
  const { safe, back, actor } = kit;
  return new Elysia()
    .use(deps.webAuth)
    .get("/portal/credits", ({ request, user, query }) => safe(request, () => creditsPage(deps, kit, request, user, query)), hide())
    .post("/portal/credits/redeem", ({ request, user, body }) => safe(request, async () => {
      try {
        const r = await throttledRedeem(deps.store, deps.throttles.redeem, user.account.id, field(body, "code"), actor(user), deps.now(), deps.alerts);
        const amount = `$${microsToUsd(r.entry.amount_micros)}`;
        return back(request, "/portal/credits", "ok", r.replayed ? `You already redeemed this code (${amount}).` : `Code redeemed: ${amount} added to your balance.`);
      } catch (e) {
        // Post/redirect/get: the message shows as a flash on the credits page.
        if (e instanceof ApiError && e.status < 500) return back(request, "/portal/credits", "error", e.message);
        throw e;
      }
    }), hide());
};

async function creditsPage(deps: ModuleDeps, kit: PortalKit, request: Request, user: PortalUser, query: Record<string, unknown>) {
  const kinds = (["credits", "charges"].includes(String(query.kinds)) ? String(query.kinds) : "") as LedgerKinds;
  const before = Number(query.before) > 0 ? Number(query.before) : undefined;
  const { rows, next } = await ledgerPage(deps.store, user.account.id, { kinds, before, limit: 50 });
  await readForShow(deps.credits, { accountId: user.account.id, capKeyId: null, memberId: null });
  const body = creditsView({
    csrf: user.session.csrf, balance: await balanceForShow(deps.credits, user.account.id), rows, kinds, next, disabled: kit.suspended(user),
  });
  return kit.render(request, user, "credits", "Credits", body);
}
