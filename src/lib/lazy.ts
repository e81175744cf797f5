/**
 * A value built on first use, then kept. For request schemas: zod builds a schema slowly (dozens of
 * closures per node, run before the JIT warms up), and every start would otherwise pay for every API's.
 */
export function lazy<T>(build: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= build());
}
