import { GLOBAL_OPTIONS, type OptionSpecs } from "./args";
import { isGroup, type CommandTable, type GroupCommand, type LeafCommand } from "./command";

function optionLines(specs: OptionSpecs): string[] {
  const rows = Object.entries(specs).map(([name, s]) => [
    `${s.short ? `-${s.short}, ` : ""}--${name}${s.value ? ` ${s.value}` : ""}`,
    s.describe,
  ]);
  const w = Math.max(...rows.map(([l]) => l!.length));
  return rows.map(([l, d]) => `  ${l!.padEnd(w)}  ${d}`);
}

function list(entries: [string, string][]): string[] {
  const w = Math.max(...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`);
}

export function topHelp(commands: CommandTable, version: string): string {
  const rows: [string, string][] = [];
  for (const [name, c] of Object.entries(commands)) {
    if (isGroup(c)) for (const [sub, s] of Object.entries(c.subcommands)) rows.push([`${name} ${sub}`, s.summary]);
    else rows.push([name, c.summary]);
  }
  return [
    `tollgate ${version}: OpenAI-compatible LLM API gateway with prepaid credits`,
    "",
    "Usage: tollgate <command> [arguments] [options]",
    "",
    "Commands:",
    ...list(rows),
    "",
    "Global options:",
    ...optionLines(GLOBAL_OPTIONS),
    "",
    "Every command except serve works directly on the database (creating and migrating it if",
    "needed) and may run while the server is up, except migrate-to-postgres, which refuses to.",
    "Run 'tollgate <command> --help' for details.",
    "Exit codes: 0 ok, 1 runtime failure (e.g. unknown account), 2 usage or configuration error.",
  ].join("\n");
}

export function groupHelp(name: string, g: GroupCommand): string {
  return [
    `Usage: tollgate ${name} <${Object.keys(g.subcommands).join("|")}> [arguments] [options]`,
    "",
    g.summary,
    "",
    "Subcommands:",
    ...list(Object.entries(g.subcommands).map(([sub, s]) => [`${sub} ${(s.args ?? []).join(" ")}`.trimEnd(), s.summary])),
    "",
    `Run 'tollgate ${name} <subcommand> --help' for its options.`,
  ].join("\n");
}

export function leafHelp(name: string, c: LeafCommand): string {
  const hasOptions = c.options && Object.keys(c.options).length > 0;
  return [
    `Usage: tollgate ${name}${c.args?.length ? ` ${c.args.join(" ")}` : ""} [options]`,
    "",
    c.summary,
    ...(hasOptions ? ["", "Options:", ...optionLines(c.options!)] : []),
    "",
    "Global options:",
    ...optionLines(GLOBAL_OPTIONS),
    ...(c.examples?.length ? ["", "Examples:", ...c.examples.map((e) => `  ${e}`)] : []),
  ].join("\n");
}
