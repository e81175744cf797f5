import { Elysia } from "elysia";
import { newSortableId } from "../../lib/ids";

/** Every response carries x-request-id (openai-node exposes it as `requestID`). */
export const requestId = new Elysia({ name: "request-id" }).onRequest(({ set }) => {
  set.headers["x-request-id"] = newSortableId("req");
});
