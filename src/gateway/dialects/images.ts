import { z } from "zod";
import { errors } from "../../lib/errors";
import { upstreamCopy } from "../chat-request";
import { hideCost, readExtras } from "../providers/usage";
import { openaiError, openaiStreamError } from "./openai-shape";
import { parseBody } from "./parse-body";
import type { Dialect, Endpoint } from "./types";
import { lazy } from "../../lib/lazy";

/** Image generation (and edits, which name source images): JSON only, as xAI takes them. */
export const ImagesRequest = lazy(() =>
  z.looseObject({
    model: z.string().min(1),
    prompt: z.string().min(1),
    n: z.number().int().min(1).max(10).nullish(),
    stream: z.literal(false).nullish(),
  }),
);
export type ImagesRequestT = z.infer<ReturnType<typeof ImagesRequest>>;

/** Source images an edit names (each is billed like one generated: xAI bills inputs and outputs). */
function sourceImages(body: Record<string, unknown>): number {
  let count = 0;
  for (const field of ["image", "image_url", "mask"]) {
    const v = body[field];
    // Several images may come as an array in one field: each is a source image billed.
    if (Array.isArray(v)) count += v.length;
    else if (v !== undefined && v !== null) count++;
  }
  if (Array.isArray(body.images)) count += body.images.length;
  return count;
}

type ImagesAnswer = { data?: unknown[]; usage?: Record<string, unknown> | null };

/** POST /v1/images/generations and /v1/images/edits: priced per image (n of them). */
function imagesDialect(endpoint: Endpoint, path: string, edits: boolean): Dialect<ImagesRequestT> {
  return {
    endpoint,
    path,
    modelKind: "image",
    parse(json) {
      const body = parseBody(ImagesRequest(), json);
      if (edits && sourceImages(body) === 0) throw errors.badRequest("An image edit needs the source image (image).", "image");
      return body;
    },
    stream: () => false,
    demand: (body) => ({ promptUpper: 0, promptEstimate: 0, maxOutput: 0, n: 1, tools: [], images: (body.n ?? 1) + (edits ? sourceImages(body) : 0) }),
    upstreamBody(body, { deployment }) {
      return JSON.stringify(upstreamCopy(body, deployment.upstream_model));
    },
    whole(json, _adapter, body) {
      const answer = json as ImagesAnswer;
      if (!Array.isArray(answer.data)) return null;
      const raw = answer.usage && typeof answer.usage === "object" ? answer.usage : {};
      const extras = readExtras(raw);
      // An edit that made nothing (a moderation refusal) billed its sources only if its cost says so.
      const sourcesBilled = edits && (answer.data.length > 0 || (extras.upstreamCost ?? 0) > 0);
      const images = answer.data.length + (sourcesBilled ? sourceImages(body) : 0);
      return {
        // The images returned are the usage; the upstream's cost, when given, prices them exactly.
        usage: { prompt: 0, cached: 0, completion: 0, reasoning: 0, images, ...extras },
        text: () => "",
        render(charge) {
          if (answer.usage) hideCost(answer.usage, charge);
          return JSON.stringify(answer);
        },
      };
    },
    tap: () => {
      throw errors.badRequest("Image generation does not stream.", "stream");
    },
    errorEvent: openaiStreamError,
    errorResponse: openaiError,
  };
}

export const imageGenerationsDialect = imagesDialect("images.generations", "/images/generations", false);
export const imageEditsDialect = imagesDialect("images.edits", "/images/edits", true);
