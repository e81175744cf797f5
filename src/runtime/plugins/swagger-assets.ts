import { Elysia } from "elysia";
// Embedded in the compiled binary so that /swagger works offline (no CDN).
import bundlePath from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import cssPath from "swagger-ui-dist/swagger-ui.css" with { type: "file" };

const asset = (path: string, type: string) => () =>
  new Response(Bun.file(path), { headers: { "content-type": type, "cache-control": "public, max-age=86400" } });

export const swaggerAssets = new Elysia({ name: "swagger-assets" })
  .get("/swagger/assets/swagger-ui-bundle.js", asset(bundlePath, "text/javascript; charset=utf-8"), { detail: { hide: true } })
  .get("/swagger/assets/swagger-ui.css", asset(cssPath, "text/css; charset=utf-8"), { detail: { hide: true } });
