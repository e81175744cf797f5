import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { IdParams } from "../accounts/model";
import { getAccountRow } from "../accounts/service";
import { CreatedKey, CreateKeyBody, KeyList, KeyView, RotateKeyBody, UpdateKeyBody } from "./model";
import { createKey, getKeyRow, keyView, listKeys, revokeKey, rotateServedKey } from "./service";
import { keyOverrides, updateKey } from "./update";

export const keysModule = (deps: ModuleDeps) =>
  new Elysia({ prefix: "/admin", tags: ["admin"] })
    .use(deps.auth)
    .post(
      "/accounts/:id/keys",
      async ({ params, body, actor, status }) => {
        const now = deps.now();
        const { row, key } = await createKey(deps.store, deps.config.key_prefix, params.id, body, actor, now, null, deps.config.models.map((m) => m.id));
        return status(201, { ...keyView(row, now), key });
      },
      {
        admin: true,
        params: IdParams,
        body: CreateKeyBody,
        response: { 201: CreatedKey },
        detail: {
          summary: "Create an API key (the key is returned only in this response)",
          description: "`models` may name configured models only (400 `model_not_found` otherwise), as PATCH /admin/keys/:id.",
        },
      },
    )
    .get(
      "/accounts/:id/keys",
      async ({ params }) => {
        await getAccountRow(deps.store, params.id);
        return { object: "list" as const, data: (await listKeys(deps.store, params.id)).map((k) => keyView(k, deps.now())) };
      },
      { admin: true, params: IdParams, response: KeyList, detail: { summary: "An account's keys (never the key or its hash)" } },
    )
    .get("/keys/:id", async ({ params }) => keyView(await getKeyRow(deps.store, params.id), deps.now()), {
      admin: true,
      params: IdParams,
      response: KeyView,
      detail: { summary: "One API key" },
    })
    .patch(
      "/keys/:id",
      async ({ params, body, actor }) => {
        const now = deps.now();
        const row = await updateKey(deps.store, params.id, body, { actor, now, policy: deps.config, models: deps.config.models.map((m) => m.id) });
        return { ...keyView(row, now), limits: await keyOverrides(deps.store, row.id) };
      },
      {
        admin: true,
        params: IdParams,
        body: UpdateKeyBody,
        response: KeyView,
        detail: {
          summary: "Change a key: name, models, expiry, rate limits (never above the plan); cap and budget of its rotation line (audited; applies from the next request)",
        },
      },
    )
    .post(
      "/keys/:id/rotate",
      async ({ params, body, actor, status }) => {
        const now = deps.now();
        const { row, key } = await rotateServedKey(deps, params.id, body?.grace_seconds ?? 0, actor, now);
        return status(201, { ...keyView(row, now), key });
      },
      {
        admin: true,
        params: IdParams,
        body: RotateKeyBody.optional(),
        response: { 201: CreatedKey },
        detail: { summary: "Issue a replacement key; the old one stays valid for grace_seconds (default 0)" },
      },
    )
    .delete("/keys/:id", async ({ params, actor }) => {
      const now = deps.now();
      return keyView(await revokeKey(deps.store, params.id, actor, now), now);
    }, {
      admin: true,
      params: IdParams,
      response: KeyView,
      detail: { summary: "Revoke a key (takes effect on the next request)" },
    });
