/**
 * A disk that really fills: a tmpfs of its own small size (the tests run as root, who may write
 * past any file mode), mounted for a test file and unmounted after it. `mounted` is false where
 * the machine will not mount one (the tests using it are skipped there).
 */
import { afterAll } from "bun:test";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface SmallDisk {
  /** Where it is mounted. */
  path: string;
  mounted: boolean;
  /** Writes a filler file until no byte more fits (ENOSPC). */
  fill(): void;
  /** Deletes the filler: room again. */
  free(): void;
}

export function smallDisk(sizeMiB: number): SmallDisk {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-small-disk-"));
  const path = join(dir, "data");
  mkdirSync(path);
  const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${sizeMiB}m`, "tmpfs", path]).exitCode === 0;
  // Unmounted lazily: whatever still has a file open on it (a gateway stopped after) keeps working.
  afterAll(() => {
    if (mounted) Bun.spawnSync(["umount", "-l", path]);
    rmSync(dir, { recursive: true, force: true });
  });
  const filler = join(path, "filler");
  return {
    path,
    mounted,
    fill() {
      const fd = openSync(filler, "a");
      for (const size of [4096, 1]) {
        try {
          for (;;) writeSync(fd, Buffer.alloc(size, 1));
        } catch {}
      }
      closeSync(fd);
    },
    free: () => rmSync(filler, { force: true }),
  };
}
