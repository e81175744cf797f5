// Files embedded into the compiled binary (`with { type: "file" }` yields their path).
declare module "uplot/dist/uPlot.iife.min.js" {
  const path: string;
  export default path;
}
declare module "uplot/dist/uPlot.min.css" {
  const path: string;
  export default path;
}
declare module "*.css" {
  const path: string;
  export default path;
}
declare module "*/app.js" {
  const path: string;
  export default path;
}
