import pkg from "../../package.json" with { type: "json" };
import type { CommandTable } from "./command";
import { runCli } from "./run";
import { serveCommand } from "./serve";

/**
 * The command line run: `serve` keeps what its start loaded for as long as it runs, so the other
 * commands, and the modules only they use, stay in their own chunk of the binary.
 */
export async function main(argv: string[], serving: boolean): Promise<number> {
  const commands: CommandTable = serving ? { serve: serveCommand } : (await import("./commands")).commands;
  return runCli(commands, argv, { env: process.env, version: pkg.version });
}
