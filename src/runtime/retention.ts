import { rollUpUsage } from "../modules/usage/service";
import type { AppDeps } from "./deps";

const DAY_MS = 86_400_000;

/**
 * The hourly retention: usage rows past `usage_retention_days` rolled up, and the records of
 * stored responses past `stored_object_retention_days` deleted (the upstream has forgotten them:
 * a request naming one gets the 404 of an id never recorded). Each in slices; a failure of one is
 * reported, leaves the other to run, and the next run (an hour later) tries again.
 */
export async function runRetention(deps: Pick<AppDeps, "store" | "objects" | "config" | "now">): Promise<void> {
  const now = deps.now();
  await rollUpUsage(deps.store, deps.config.usage_retention_days, now).catch((e) => console.error("usage roll-up failed (retried in an hour):", e));
  await deps.objects.prune(now - deps.config.stored_object_retention_days * DAY_MS).catch((e) => console.error("stored-object clean-up failed (retried in an hour):", e));
}
