import { accountsCommand } from "./accounts";
import { backupCommand } from "./backup";
import type { CommandTable } from "./command";
import { creditsCommand } from "./credits";
import { codesCommand } from "./codes";
import { inviteCommand } from "./invite";
import { demoCommand } from "./demo";
import { keysCommand } from "./keys";
import { membersCommand } from "./members";
import { migrateCommand } from "./migrate";
import { serveCommand } from "./serve";

/**
 * Every command of the executable. A command is a LeafCommand (`run`) or a GroupCommand
 * (`subcommands`), see src/cli/command.ts; its help, flags and exit codes come from runCli.
 */
export const commands: CommandTable = {
  serve: serveCommand,
  migrate: migrateCommand,
  backup: backupCommand,
  accounts: { ...accountsCommand, subcommands: { ...accountsCommand.subcommands, invite: inviteCommand } },
  credits: creditsCommand,
  keys: keysCommand,
  members: membersCommand,
  codes: codesCommand,
  demo: demoCommand,
};
