import { isObject } from "../../lib/checks";
import { ApiError } from "../../lib/errors";

/**
 * Files live in the upstream's Files API under the key every customer shares, which the gateway
 * does not serve: no customer owns a file id here, so one named in a message's content is someone
 * else's (or the operator's), and the request is refused before anything reaches the upstream.
 * Files are sent with their content (`file_data`, base64 images, URLs); collections search stays.
 */
export function refuseFileIds(list: unknown, param: string): void {
  if (!Array.isArray(list)) return;
  // A loop, and the param's text only where there are parts: this runs on every chat request.
  for (let i = 0; i < list.length; i++) {
    const item: unknown = list[i];
    if (!isObject(item)) continue;
    if (Array.isArray(item.content)) refuseInParts(item.content, `${param}.${i}.content`);
    // A Responses function_call_output may carry parts as its output.
    if (Array.isArray(item.output)) refuseInParts(item.output, `${param}.${i}.output`);
  }
}

/** Content parts, and the parts nested in a tool result's content (one level, as the APIs nest them). */
function refuseInParts(parts: unknown, param: string, nested = false): void {
  if (!Array.isArray(parts)) return;
  parts.forEach((part, j) => {
    if (!isObject(part)) return;
    const where = fileIdOf(part);
    if (where) throw fileIdRefused(`${param}.${j}.${where}`);
    if (!nested) refuseInParts(part.content ?? part.output, `${param}.${j}.${part.content !== undefined ? "content" : "output"}`, true);
  });
}

/** Where a part names a file by id: Responses' input_file and input_image, Chat's file part, Anthropic's file source. */
function fileIdOf(part: Record<string, unknown>): string | null {
  if (typeof part.file_id === "string") return "file_id";
  if (isObject(part.file) && typeof part.file.file_id === "string") return "file.file_id";
  if (isObject(part.source) && typeof part.source.file_id === "string") return "source.file_id";
  return null;
}

const fileIdRefused = (param: string) =>
  new ApiError(400, `A file id (${param}) is not supported through this gateway: send the file's content instead (file_data, or the image as base64 or a URL).`, "invalid_request_error", "unsupported_parameter", param);
