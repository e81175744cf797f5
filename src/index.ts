#!/usr/bin/env bun
import { ConfigError, loadConfig } from "./config/load";
import { serve } from "./cli/serve";

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const fileIdx = rest.indexOf("--config");
  const file = fileIdx >= 0 ? rest[fileIdx + 1] : undefined;
  const config = loadConfig({ env: process.env, file });
  switch (command) {
    case "serve":
      await serve(config);
      return -1;
    default:
      console.error(`unknown command: ${command ?? "(none)"}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e) => {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
