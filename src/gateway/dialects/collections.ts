import { isObject } from "../../lib/checks";
import { ApiError } from "../../lib/errors";

/** The tool types that search collections, and the fields that name them. */
const SEARCH_TOOLS = new Set(["file_search", "collections_search"]);
const ID_FIELDS = ["vector_store_ids", "collection_ids"] as const;

/**
 * Collections live in the operator's upstream account, which every customer shares: a collection
 * search may name only the collections the operator made searchable (`searchable_collections`),
 * else any customer who learns an id reads the operator's documents. Refused before anything
 * reaches the upstream, so no money moves.
 */
export function refuseUnlistedCollections(tools: unknown, searchable: ReadonlySet<string>): void {
  if (!Array.isArray(tools)) return;
  for (let i = 0; i < tools.length; i++) {
    const tool: unknown = tools[i];
    if (!isObject(tool) || typeof tool.type !== "string" || !SEARCH_TOOLS.has(tool.type)) continue;
    for (const field of ID_FIELDS) {
      const ids = tool[field];
      if (ids === undefined) continue;
      if (!Array.isArray(ids)) throw notListed(`tools.${i}.${field}`, "must be a list of collection ids");
      ids.forEach((id, j) => {
        if (typeof id !== "string" || !searchable.has(id)) throw notListed(`tools.${i}.${field}.${j}`, "is not a collection this gateway lets customers search");
      });
    }
  }
}

const notListed = (param: string, what: string) =>
  new ApiError(400, `${param} ${what} (the operator lists the searchable ones).`, "invalid_request_error", "collection_not_allowed", param);
