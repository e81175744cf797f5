import { ConfigError } from "../config/load";
import { ApiError } from "../lib/errors";
import { GLOBAL_OPTIONS, parseArgs, splitPath, UsageError } from "./args";
import { CliContext, isGroup, type CommandTable, type LeafCommand } from "./command";
import { groupHelp, leafHelp, topHelp } from "./help";

export interface RunOptions {
  env: Record<string, string | undefined>;
  version: string;
  stdout?: (line: string) => void;
  stderr?: (line: string) => void;
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, " ").trim();

/** Parses argv against the command table, runs the command and returns the exit code. */
export async function runCli(commands: CommandTable, argv: readonly string[], opts: RunOptions): Promise<number> {
  const stdout = opts.stdout ?? ((l: string) => console.log(l));
  const stderr = opts.stderr ?? ((l: string) => console.error(l));
  let ctx: CliContext | undefined;
  try {
    const top = splitPath(argv, 1);
    const name = top.path[0];
    if (name === undefined) {
      const { options } = parseArgs(top.rest, GLOBAL_OPTIONS);
      if (options.version) return printVersion(opts.version, options.json === true, stdout);
      if (options.help) return (stdout(topHelp(commands, opts.version)), 0);
      throw new UsageError("missing command; run 'tollgate --help' for the list");
    }
    const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
    if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}; run 'tollgate --help' for the list`);

    let leaf: LeafCommand;
    let fullName = name;
    let rest = top.rest;
    if (isGroup(command)) {
      const sub = splitPath(top.rest, 1);
      const subName = sub.path[0];
      if (subName === undefined) {
        const { options } = parseArgs(sub.rest, GLOBAL_OPTIONS);
        if (options.help) return (stdout(groupHelp(name, command)), 0);
        if (options.version) return printVersion(opts.version, options.json === true, stdout);
        const names = Object.keys(command.subcommands).join(", ");
        throw new UsageError(`${name}: missing subcommand (${names}); see 'tollgate ${name} --help'`);
      }
      const found = Object.hasOwn(command.subcommands, subName) ? command.subcommands[subName] : undefined;
      if (!found) throw new UsageError(`${name}: unknown subcommand ${JSON.stringify(subName)}; see 'tollgate ${name} --help'`);
      leaf = found;
      fullName = `${name} ${subName}`;
      rest = sub.rest;
    } else leaf = command;

    const parsed = parseArgs(rest, { ...GLOBAL_OPTIONS, ...leaf.options });
    const o = parsed.options;
    if (o.help) return (stdout(leafHelp(fullName, leaf)), 0);
    if (o.version) return printVersion(opts.version, o.json === true, stdout);
    ctx = new CliContext(
      { config: o.config as string | undefined, db: o.db as string | undefined, json: o.json === true },
      opts.env,
      stdout,
      stderr,
    );
    const code = (await leaf.run(ctx, parsed)) ?? 0;
    if (ctx.migrated && fullName !== "migrate") {
      stderr(`note: database ${ctx.shared ? "(PostgreSQL)" : ctx.config().db_path}: applied ${ctx.migrated} migration(s)`);
    }
    return code;
  } catch (e) {
    if (e instanceof UsageError) {
      stderr(`error: ${oneLine(e.message)}`);
      return 2;
    }
    if (e instanceof ConfigError) {
      stderr(oneLine(e.message));
      return 2;
    }
    if (e instanceof ApiError) {
      stderr(`error: ${oneLine(e.message)}${e.code ? ` (${e.code})` : ""}`);
      return 1;
    }
    stderr(`error: ${oneLine(e instanceof Error ? e.message : String(e))}`);
    return 1;
  } finally {
    await ctx?.close();
  }
}

function printVersion(version: string, json: boolean, stdout: (l: string) => void): number {
  stdout(json ? JSON.stringify({ version }) : `tollgate ${version}`);
  return 0;
}
