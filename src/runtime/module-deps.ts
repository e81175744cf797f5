import type { authPlugin } from "../identity/auth";
import type { Throttles } from "../identity/sessions";
import type { webAuthPlugin } from "../web/session";
import type { AppDeps } from "./deps";

/** What an Elysia module gets: the runtime's deps plus the auth macros and state of this app. */
export interface ModuleDeps extends AppDeps {
  /** `{ admin: true }` and `{ customer: true }` (identity/auth.ts). */
  auth: ReturnType<typeof authPlugin>;
  /** `{ portal: true }` and `{ console: true }` (web/session.ts). */
  webAuth: ReturnType<typeof webAuthPlugin>;
  /** Failed sign-ins (portal and console), admin tokens and sign-ups, per client address. */
  throttles: Throttles;
}
