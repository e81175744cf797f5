import { isObject } from "../../lib/checks";
import { ApiError } from "../../lib/errors";
import { refuseFileIds } from "./file-ids";

/**
 * What a Messages request may name of what the upstream stores under the key every customer
 * shares. Containers (with the files code execution left in them), files and custom skills are
 * made through APIs the gateway does not serve, so no customer owns one here: whatever id a
 * request gives is someone else's (or the operator's), and the upstream would open it for
 * whoever names it. A container given without an id is a new one, and passes, and so do
 * Anthropic's own skills (type "anthropic": the same for everyone).
 */
export function refuseUnownedMessages(body: { messages: unknown; system?: unknown; container?: unknown }): void {
  refuseFileIds(body.messages, "messages");
  refuseFileIds(body.system, "system");
  const c = body.container;
  if (c == null) return;
  if (typeof c === "string" || (isObject(c) && c.id != null)) {
    throw unsupported("container", "A container id (container) is not supported through this gateway: leave container out, or give it without an id, to start a new one.");
  }
  if (isObject(c) && Array.isArray(c.skills)) c.skills.forEach(refuseCustomSkill);
}

/** A custom skill is uploaded through the Skills API into the operator's account; only Anthropic's own pass. */
function refuseCustomSkill(skill: unknown, i: number): void {
  if (isObject(skill) && skill.type === "anthropic") return;
  const param = `container.skills.${i}.skill_id`;
  throw unsupported(param, `A custom skill (${param}) is not supported through this gateway: only Anthropic's own skills (type "anthropic") are.`);
}

// Anthropic's envelope has no param: the message names the field as well.
const unsupported = (param: string, message: string) => new ApiError(400, message, "invalid_request_error", "unsupported_parameter", param);
