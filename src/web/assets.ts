import { Elysia } from "elysia";
// Embedded in the compiled binary: the dashboard works offline, nothing comes from a CDN.
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "file" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "file" };
import appCss from "./app.css" with { type: "file" };
import appJs from "./app.js" with { type: "file" };

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

const asset = (path: string, type: string) => () =>
  new Response(Bun.file(path), {
    headers: { "content-type": type, "cache-control": "public, max-age=3600", "x-content-type-options": "nosniff" },
  });

export const webAssets = new Elysia({ name: "web-assets" })
  .get("/assets/app.css", asset(appCss, CSS), { detail: { hide: true } })
  .get("/assets/app.js", asset(appJs, JS), { detail: { hide: true } })
  .get("/assets/uplot.js", asset(uplotJs, JS), { detail: { hide: true } })
  .get("/assets/uplot.css", asset(uplotCss, CSS), { detail: { hide: true } });
