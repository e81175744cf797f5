import { isObject } from "../../lib/checks";
import { ApiError } from "../../lib/errors";

/**
 * Files live in the upstream's Files API under the key every customer shares, which the gateway
 * does not serve: no customer owns a file id here, so one named in a message's content is someone
 * else's (or the operator's), and the request is refused before anything reaches the upstream.
 * Files are sent with their content (`file_data`, base64 images, URLs); collections search stays.
 */
export function refuseFileIds(list: unknown, param: string): void {
  if (typeof list !== "object" || list === null) return;
  const at = fileIdIn(list);
  if (at !== null) throw fileIdRefused(`${param}.${at}`);
}

/**
 * The fields content nests in, at any depth: parts (`content`, a Responses tool output's
 * `output`), a tool result's or an inline document's parts (`source.content`), a source or a
 * chat file part. Annotations and other output metadata are not content the upstream reads.
 */
export const NESTING = ["content", "output", "source", "file"] as const;

/**
 * Where below `node` a file is named by id (e.g. "0.content.1.source.file_id"), or null. The
 * recursion is bounded by the route's JSON depth limit; the path is built only on a hit, since
 * this runs on every chat request.
 */
function fileIdIn(node: unknown): string | null {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const at = fileIdIn(node[i]);
      if (at !== null) return `${i}.${at}`;
    }
    return null;
  }
  if (!isObject(node)) return null;
  if (typeof node.file_id === "string") return "file_id";
  for (const key of NESTING) {
    const v = node[key];
    if (typeof v !== "object" || v === null) continue;
    const at = fileIdIn(v);
    if (at !== null) return `${key}.${at}`;
  }
  return null;
}

/** Also what a request learns of a file id in a tool's settings; an earlier turn's tool output that names one is left out. */
export const fileIdRefused = (param: string) =>
  new ApiError(
    400,
    `A file id (${param}) is not supported through this gateway: send the file's content instead (file_data, or the image as base64 or a URL), or leave out what names it (an earlier turn's tool output, say).`,
    "invalid_request_error",
    "unsupported_parameter",
    param,
  );
