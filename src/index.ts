#!/usr/bin/env bun
import pkg from "../package.json" with { type: "json" };
import { accountsCommand } from "./cli/accounts";
import type { CommandTable } from "./cli/command";
import { creditsCommand } from "./cli/credits";
import { codesCommand } from "./cli/codes";
import { inviteCommand } from "./cli/invite";
import { demoCommand } from "./cli/demo";
import { keysCommand } from "./cli/keys";
import { migrateCommand } from "./cli/migrate";
import { runCli } from "./cli/run";
import { serveCommand } from "./cli/serve";

/**
 * Every command of the executable. A command is a LeafCommand (`run`) or a GroupCommand
 * (`subcommands`), see src/cli/command.ts; its help, flags and exit codes come from runCli.
 */
const commands: CommandTable = {
  serve: serveCommand,
  migrate: migrateCommand,
  accounts: { ...accountsCommand, subcommands: { ...accountsCommand.subcommands, invite: inviteCommand } },
  credits: creditsCommand,
  keys: keysCommand,
  codes: codesCommand,
  demo: demoCommand,
};

// process.exitCode rather than process.exit(): stdout is flushed first, and `serve` keeps running.
process.exitCode = await runCli(commands, process.argv.slice(2), { env: process.env, version: pkg.version });
