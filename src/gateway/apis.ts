import { chatDialect } from "./dialects/chat";
import { completionsDialect } from "./dialects/completions";
import { imageEditsDialect, imageGenerationsDialect } from "./dialects/images";
import { messagesDialect } from "./dialects/messages";
import { responsesDialect } from "./dialects/responses";
import { tokenizeDialect } from "./dialects/tokenize";
import type { Dialect, GatewayBody } from "./dialects/types";

/** Every metered API: its route (POST) and its dialect of the one pipeline. */
export const METERED_APIS: readonly { path: string; dialect: Dialect<GatewayBody> }[] = [
  { path: "/v1/chat/completions", dialect: chatDialect as Dialect<GatewayBody> },
  { path: "/v1/completions", dialect: completionsDialect as Dialect<GatewayBody> },
  { path: "/v1/responses", dialect: responsesDialect as Dialect<GatewayBody> },
  { path: "/v1/messages", dialect: messagesDialect as Dialect<GatewayBody> },
  { path: "/v1/images/generations", dialect: imageGenerationsDialect as Dialect<GatewayBody> },
  { path: "/v1/images/edits", dialect: imageEditsDialect as Dialect<GatewayBody> },
  { path: "/v1/tokenize-text", dialect: tokenizeDialect as Dialect<GatewayBody> },
];
