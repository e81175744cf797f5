#!/usr/bin/env bun
import { splitPath } from "./cli/args";
import { keepFreedMemory } from "./runtime/allocator";

const argv = process.argv.slice(2);
// The same command lookup as runCli's.
const serving = splitPath(argv, 1).path[0] === "serve";
// First, before the rest of the program loads: this may restart the process (runtime/allocator.ts).
if (serving) keepFreedMemory();
const { main } = await import("./cli/main");

// process.exitCode rather than process.exit(): stdout is flushed first, and `serve` keeps running.
process.exitCode = await main(argv, serving);
