/**
 * A small argument parser (no dependency). Written by hand rather than with node:util parseArgs
 * because negative amounts (`credits add acc_x -5`) must stay positional and every mistake must
 * become a one-line usage error with exit code 2.
 */

/** Bad command line: printed as one line, exit code 2. */
export class UsageError extends Error {}

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  /** Placeholder shown in help, e.g. "<usd>". */
  value?: string;
  describe: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

export interface Parsed {
  positionals: string[];
  options: Record<string, string | boolean | undefined>;
}

export const GLOBAL_OPTIONS: OptionSpecs = {
  config: { type: "string", value: "<file>", describe: "config file (JSON or TOML); default env TOLLGATE_CONFIG" },
  db: { type: "string", value: "<path>", describe: "database file (overrides db_path / TOLLGATE_DB)" },
  json: { type: "boolean", describe: "print exactly one JSON document on stdout" },
  help: { type: "boolean", short: "h", describe: "show help" },
  version: { type: "boolean", describe: "print the version" },
};

/** "-5", "-0.25": a negative number, not an option. */
const isNumber = (t: string) => /^-\d/.test(t) || /^-\.\d/.test(t);
export const isOptionToken = (t: string) => t.startsWith("-") && t !== "-" && !isNumber(t);

function lookup(specs: OptionSpecs, token: string): [string, OptionSpec] | undefined {
  if (token.startsWith("--")) {
    const name = token.slice(2);
    const spec = specs[name];
    return spec ? [name, spec] : undefined;
  }
  const short = token.slice(1);
  return Object.entries(specs).find(([, s]) => s.short === short);
}

export function parseArgs(argv: readonly string[], specs: OptionSpecs): Parsed {
  const positionals: string[] = [];
  const options: Parsed["options"] = {};
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!isOptionToken(token)) {
      positionals.push(token);
      continue;
    }
    const eq = token.startsWith("--") ? token.indexOf("=") : -1;
    const flag = eq >= 0 ? token.slice(0, eq) : token;
    const found = lookup(specs, flag);
    if (!found) throw new UsageError(`unknown option ${flag}`);
    const [name, spec] = found;
    if (spec.type === "boolean") {
      if (eq >= 0) throw new UsageError(`option ${flag} takes no value`);
      options[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = token.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith("--")) {
        value = next;
        i++;
      }
    }
    if (value === undefined || value === "") throw new UsageError(`option ${flag} needs a value ${spec.value ?? ""}`.trimEnd());
    options[name] = value;
  }
  return { positionals, options };
}

/**
 * Finds the first `depth` non-option words (the command path), skipping global options and the
 * values of global string options, and returns them with the remaining tokens.
 */
export function splitPath(argv: readonly string[], depth: number): { path: string[]; rest: string[] } {
  const path: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    if (path.length < depth && !isOptionToken(token)) {
      path.push(token);
      continue;
    }
    rest.push(token);
    if (path.length < depth && isOptionToken(token) && !token.includes("=")) {
      const spec = lookup(GLOBAL_OPTIONS, token)?.[1];
      if (spec?.type === "string" && argv[i + 1] !== undefined) rest.push(argv[++i]!);
    }
  }
  return { path, rest };
}

/** A flag's whole number from `min` to `max`, in decimal digits only (`1e3`, `0x10` and `5.0` are refused). */
export function wholeNumber(text: unknown, flag: string, min: number, max: number): number {
  const n = typeof text === "string" && /^\d{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`${flag}: a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return n;
}
