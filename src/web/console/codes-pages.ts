import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { dayStart, field } from "../forms";
import { redirectResponse } from "../html";
import { batchCursor, codeView, createCodes, listBatches, listCodes } from "../../modules/codes/service";
import { CreateCodesBody } from "../../modules/codes/model";
import { microsToUsd } from "../../money/units";
import { Reveals } from "../../identity/reveals";
import { consoleKit, DAY_MS, hide, money, type ConsoleKit, type Op } from "./page-kit";
import { codesView } from "./views/other";
import type { BatchList } from "./views/code-batches";

/** POST /admin/codes's limit on what one code is worth, so that the console cannot go past it. */
const MAX_CODE_MICROS = CreateCodesBody.shape.amount_micros.maxValue ?? 1e12;

/** New codes, shown once by the next page (every batch made since it was last shown). */
type NewCodes = { codes: string[]; amount: number };

/** Credit codes: the batches, one batch's codes, and creating a batch. */
export const codesPages = (deps: ModuleDeps) => {
  const kit = consoleKit(deps);
  const { safe, back } = kit;
  const newCodes = new Reveals<NewCodes>(deps.store, "codes", deps.now);
  return new Elysia()
    .use(deps.webAuth)
    .get("/console/codes", ({ request, operator, query }) => safe(request, async () =>
      codesPage(deps, kit, request, operator, typeof query.batch === "string" ? query.batch : "", { created: await newCodes.take(operator.session.token) })), hide())
    .post("/console/codes", ({ request, operator, body }) => safe(request, async () => {
      const count = Number(field(body, "count"));
      const amount = money(field(body, "amount_usd"));
      const expires = field(body, "expires") ? dayStart(field(body, "expires")) : null;
      const error = !Number.isInteger(count) || count < 1 || count > 1000 ? "Create between 1 and 1000 codes at a time."
        : amount === null || amount <= 0 ? "Enter what each code is worth in USD, e.g. 10."
        : amount > MAX_CODE_MICROS ? `A code is worth at most ${microsToUsd(MAX_CODE_MICROS)} USD.`
        : field(body, "expires") && (expires === null || expires + DAY_MS <= deps.now()) ? "The expiry date must be in the future."
        : null;
      if (error) return back(request, "/console/codes", "error", error);
      const b = await createCodes(deps.store, {
        count, amount_micros: amount!, note: field(body, "note").trim().slice(0, 200) || undefined,
        // A code is valid through the whole expiry day (UTC).
        expires_at: expires === null ? null : Math.floor((expires + DAY_MS) / 1000),
      }, operator.actor, deps.now());
      await newCodes.put(operator.session.token, { codes: b.codes.map((c) => c.code), amount: amount! });
      return redirectResponse(`/console/codes?batch=${b.batch}`);
    }), hide());
};

async function codesPage(deps: ModuleDeps, kit: ConsoleKit, request: Request, op: Op, batch: string, extra: { created?: NewCodes[] } = {}) {
  return kit.render(request, op, "codes", "Credit codes", codesView({
    csrf: op.session.csrf,
    list: await batchesPage(deps, new URL(request.url).searchParams),
    batch,
    codes: batch ? (await listCodes(deps.store, { batch, limit: 1000, offset: 0 }, deps.now())).map((c) => codeView(c, deps.now())) : null,
    ...extra,
  }));
}

const BATCHES_PER_PAGE = 50;

/** The page of batches the query asks for (`q` a search, `before` the previous page's cursor), and the cursor of the next. */
async function batchesPage(deps: ModuleDeps, query: URLSearchParams): Promise<BatchList> {
  const q = query.get("q")?.trim() ?? "";
  const before = query.get("before") || undefined;
  const rows = await listBatches(deps.store, { limit: BATCHES_PER_PAGE + 1, before, q: q || undefined });
  const more = rows.length > BATCHES_PER_PAGE;
  return { rows: rows.slice(0, BATCHES_PER_PAGE), q, before, next: more ? batchCursor(rows[BATCHES_PER_PAGE - 1]!) : null };
}
