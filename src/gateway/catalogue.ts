import type { Config, Model } from "../config/load";
import { errors } from "../lib/errors";

/** Models a key may use: the catalogue, narrowed by the key's allow-list when it has one. */
export function modelsFor(config: Config, allowed: readonly string[] | null): readonly Model[] {
  return allowed ? config.models.filter((m) => allowed.includes(m.id)) : config.models;
}

/**
 * Unknown models, models outside the key's allow-list, and models of another kind than the
 * route serves (an image model on chat) look the same: 404 model_not_found.
 */
export function findModel(config: Config, allowed: readonly string[] | null, id: string, kind?: Model["kind"]): Model {
  const m = config.models.find((x) => x.id === id);
  if (!m || (kind && m.kind !== kind) || (allowed && !allowed.includes(id))) throw errors.modelNotFound(id);
  return m;
}

export function modelObject(m: Model) {
  return { id: m.id, object: "model" as const, created: m.created, owned_by: m.provider };
}
