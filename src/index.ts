#!/usr/bin/env bun
import pkg from "../package.json" with { type: "json" };
import { splitPath } from "./cli/args";
import type { CommandTable } from "./cli/command";
import { runCli } from "./cli/run";
import { serveCommand } from "./cli/serve";

const argv = process.argv.slice(2);
// `serve` keeps what its start loaded for as long as it runs: the other commands, and the modules
// only they use, stay in their own chunk of the binary (the same command lookup as runCli's).
const commands: CommandTable =
  splitPath(argv, 1).path[0] === "serve" ? { serve: serveCommand } : (await import("./cli/commands")).commands;

// process.exitCode rather than process.exit(): stdout is flushed first, and `serve` keeps running.
process.exitCode = await runCli(commands, argv, { env: process.env, version: pkg.version });
