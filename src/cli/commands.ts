import { planCommand, resumeCommand, suspendCommand } from "./account-admin";
import { accountsCommand } from "./accounts";
import { backupCommand } from "./backup";
import type { CommandTable } from "./command";
import { creditsCommand } from "./credits";
import { codesCommand } from "./codes";
import { inviteCommand } from "./invite";
import { demoCommand } from "./demo";
import { keyLimitsCommand } from "./key-limits";
import { keysCommand } from "./keys";
import { marginsCommand } from "./margins";
import { membersCommand } from "./members";
import { migrateCommand } from "./migrate";
import { migrateToPostgresCommand } from "./migrate-to-postgres";
import { modelsCommand } from "./models";
import { serveCommand } from "./serve";
import { usageCommand } from "./usage";

/**
 * Every command of the executable. A command is a LeafCommand (`run`) or a GroupCommand
 * (`subcommands`), see src/cli/command.ts; its help, flags and exit codes come from runCli.
 */
export const commands: CommandTable = {
  serve: serveCommand,
  migrate: migrateCommand,
  "migrate-to-postgres": migrateToPostgresCommand,
  backup: backupCommand,
  accounts: {
    ...accountsCommand,
    subcommands: { ...accountsCommand.subcommands, invite: inviteCommand, plan: planCommand, suspend: suspendCommand, resume: resumeCommand },
  },
  credits: creditsCommand,
  keys: { ...keysCommand, subcommands: { ...keysCommand.subcommands, limits: keyLimitsCommand } },
  members: membersCommand,
  usage: usageCommand,
  margins: marginsCommand,
  codes: codesCommand,
  models: modelsCommand,
  demo: demoCommand,
};
