import { expect } from "bun:test";
import { ConfigError } from "../../src/config/load";

/** The message of the ConfigError `load` throws (one line, as operators read it); fails when it loads. */
export function configError(load: () => unknown, what = "this configuration"): string {
  try {
    load();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    const message = (e as Error).message;
    expect(message).not.toContain("\n");
    return message;
  }
  throw new Error(`expected a ConfigError for ${what}, but it loaded`);
}
