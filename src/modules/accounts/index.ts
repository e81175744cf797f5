import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { AccountList, AccountView, CreateAccountBody, IdParams, ListAccountsQuery, UpdateAccountBody } from "./model";
import { accountViews, createAccount, getAccountRow, listAccounts, updateAccount, type AccountRow } from "./service";

export const accountsModule = (deps: ModuleDeps) => {
  // Balances as /v1/me has them: charges still only in the settlement journal counted, and holds on every instance.
  const view = async (row: AccountRow) => (await accountViews(deps.credits, [row]))[0]!;
  return new Elysia({ prefix: "/admin/accounts", tags: ["admin"] })
    .use(deps.auth)
    .post("", async ({ body, actor, status }) => status(201, await view(await createAccount(deps.store, body, actor, deps.now(), deps.config))), {
      admin: true,
      body: CreateAccountBody,
      response: { 201: AccountView },
      detail: { summary: "Create a customer account", description: "`plan` must be a configured plan (400 `unknown_plan` otherwise), as in PUT /admin/accounts/:id/plan." },
    })
    .get(
      "",
      async ({ query }) => {
        const rows = await listAccounts(deps.store, { ...query, limit: query.limit + 1 });
        return { object: "list" as const, has_more: rows.length > query.limit, data: await accountViews(deps.credits, rows.slice(0, query.limit)) };
      },
      { admin: true, query: ListAccountsQuery, response: AccountList, detail: { summary: "List accounts, newest first" } },
    )
    .get("/:id", async ({ params }) => view(await getAccountRow(deps.store, params.id)), {
      admin: true,
      params: IdParams,
      response: AccountView,
      detail: { summary: "One account with balance, held and available credit" },
    })
    .patch("/:id", async ({ params, body, actor }) => view(await updateAccount(deps.store, params.id, body, actor, deps.now())), {
      admin: true,
      params: IdParams,
      body: UpdateAccountBody,
      response: AccountView,
      detail: { summary: "Rename, change email, suspend or reactivate an account (suspension applies on the next request)" },
    });
};
