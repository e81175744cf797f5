import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import { z } from "zod";
import { PAGE_GUARDS } from "../web/html";

/** The OpenAPI spec at /openapi.json and Swagger UI at /swagger, the spec as clients read it (asClientsSendIt). */
export function apiDocs() {
  const docs = new Elysia();
  const done = new WeakSet<object>();
  // A local hook: it sees the spec's route (and the UI's), not the app's other routes.
  docs.onAfterHandle(({ path, response }) => {
    if (path !== "/openapi.json" || !response || typeof response !== "object" || done.has(response)) return;
    // Every route of the app, as the plugin reads them (a method Elysia's types keep protected).
    asClientsSendIt(response as Spec, (docs as unknown as { getGlobalRoutes(): DocumentedRoute[] }).getGlobalRoutes());
    // The plugin answers the same object until a route is added: it is rewritten once.
    done.add(response);
  });
  // The UI is a page where an operator may paste the admin token: never framed, never sniffed.
  docs.onAfterHandle(({ path, set }) => {
    if (path.startsWith("/swagger")) Object.assign(set.headers, PAGE_HEADERS);
  });
  return docs.use(
    openapi({
      path: "/swagger",
      specPath: "/openapi.json",
      provider: "swagger-ui",
      swagger: { cdn: "/swagger/assets/swagger-ui-bundle.js", theme: "/swagger/assets/swagger-ui.css", version: "5" },
      mapJsonSchema: { zod: z.toJSONSchema },
      documentation: {
        info: {
          title: "Tollgate",
          version: "0.1.0",
          description: "OpenAI-compatible LLM API gateway with prepaid credits. Customer routes use an API key; /admin routes use the admin token.",
        },
        components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
        security: [{ bearer: [] }],
      },
    }),
  );
}

/** The dashboard's page guards (web/html.ts), but not its script policy: the UI's page sets up Swagger inline. */
const PAGE_HEADERS = { ...PAGE_GUARDS, "content-security-policy": "frame-ancestors 'none'" };

type JsonSchema = { properties?: Record<string, JsonSchema>; required?: string[]; items?: JsonSchema };
type Operation = {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonSchema }> };
  responses?: Record<string, unknown>;
};
type Spec = { paths?: Record<string, Record<string, Operation>> };
type Responses = Record<string, { content?: Record<string, unknown> }>;
type Parameter = { in: string; name: string; required?: boolean };
type DocumentedRoute = { method: string; path: string; hooks?: { query?: unknown; body?: unknown; detail?: { responses?: Responses; parameters?: Parameter[] } } };

/**
 * The plugin renders every schema as zod's output (what a response holds) and marks every body
 * required. A request is what a client sends: a query parameter or body field with a default may
 * be left out (zod's input mode says which), and so may a body the route takes as optional
 * (rotating a key, a new invite link). The types and bounds stay the output's (`limit`: an integer
 * from 1 to 1000, not "a number or a string of digits").
 */
function asClientsSendIt(spec: Spec, routes: readonly DocumentedRoute[]): void {
  for (const r of routes) {
    const op = spec.paths?.[r.path.replace(/:([^/]+)/g, "{$1}")]?.[r.method.toLowerCase()];
    if (!op) continue;
    errorsOf(op, r.path);
    jsonOnly(op);
    alsoDeclared(op, r.hooks?.detail);
    const query = asSent(r.hooks?.query);
    if (query) for (const p of op.parameters ?? []) if (p.in === "query") p.required = query.required?.includes(p.name) ?? false;
    const body = r.hooks?.body;
    const sent = asSent(body);
    if (!op.requestBody || !sent) continue;
    if ((body as z.ZodType).safeParse(undefined).success) op.requestBody.required = false;
    for (const c of Object.values(op.requestBody.content ?? {})) takeRequired(c.schema, sent);
  }
}

/** Every route answers its errors in one envelope (the API's own on /v1/messages): the spec says so once per operation. */
function errorsOf(op: Operation, path: string): void {
  const anthropic = path.startsWith("/v1/messages");
  op.responses ??= {};
  op.responses.default ??= {
    description: anthropic ? "An error in Anthropic's envelope (docs/api.md, Errors)" : "An error in the OpenAI envelope (docs/api.md, Errors)",
    content: { "application/json": { schema: anthropic ? ANTHROPIC_ERROR : OPENAI_ERROR } },
  };
}

const OPENAI_ERROR = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["message", "type"],
      properties: { message: { type: "string" }, type: { type: "string" }, param: { type: ["string", "null"] }, code: { type: ["string", "null"] } },
    },
  },
};
const ANTHROPIC_ERROR = {
  type: "object",
  required: ["type", "error"],
  properties: { type: { const: "error" }, error: { type: "object", required: ["type", "message"], properties: { type: { type: "string" }, message: { type: "string" } } } },
};

/**
 * What a route declares beside what the plugin derives from its schemas, which it keeps alone:
 * content types beside the validated response (a report's CSV), query parameters passed on
 * unvalidated, an error status of its own (a 429), in the error envelope unless it says otherwise.
 */
function alsoDeclared(op: Operation, declared: { responses?: Responses; parameters?: Parameter[] } | undefined): void {
  for (const p of declared?.parameters ?? []) {
    if (!op.parameters?.some((q) => q.in === p.in && q.name === p.name)) (op.parameters ??= []).push(p);
  }
  const responses = (op.responses ??= {}) as Responses;
  for (const [status, d] of Object.entries(declared?.responses ?? {})) {
    const shown = responses[status] ?? null;
    if (!shown) responses[status] = { ...d };
    else if (shown.content && d.content) for (const [type, c] of Object.entries(d.content)) shown.content[type] ??= c;
  }
  // An error declared by its status alone (the plugin copies those of a route without a response schema as they are).
  for (const [status, r] of Object.entries(responses)) if (Number(status) >= 400 && !r.content) r.content = responses.default?.content;
}

/** The routes take JSON bodies only (the plugin also lists forms, whose fields would all be strings). */
function jsonOnly(op: Operation): void {
  const content = op.requestBody?.content;
  if (!content?.["application/json"]) return;
  for (const type of Object.keys(content)) if (type !== "application/json") delete content[type];
}

/** A zod schema as a client sends it (input mode); undefined for anything else. */
const asSent = (schema: unknown): JsonSchema | undefined =>
  schema instanceof z.ZodType ? (z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema) : undefined;

/** Copies which properties are required from the input rendering into the spec's, object by object. */
function takeRequired(shown: JsonSchema | undefined, sent: JsonSchema | undefined): void {
  if (!shown || !sent) return;
  if (shown.properties && sent.properties) {
    const required = (sent.required ?? []).filter((k) => k in shown.properties!);
    if (required.length > 0) shown.required = required;
    else delete shown.required;
    for (const [k, v] of Object.entries(shown.properties)) takeRequired(v, sent.properties[k]);
  }
  takeRequired(shown.items, sent.items);
}
