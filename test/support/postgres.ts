/**
 * A throwaway PostgreSQL cluster for the tests: initdb in a temporary directory on a free port,
 * started once per test process on first use and stopped (and deleted) when the process exits.
 * Each caller gets a database of its own. Needs Debian's postgresql (.ci/test installs it); as
 * root the cluster runs as the `postgres` user, as PostgreSQL refuses to run as root.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQL } from "bun";

interface Cluster {
  dir: string;
  port: number;
  url: (database: string) => string;
}

let started: Promise<Cluster> | null = null;

/** A new, empty database on the shared test cluster; its URL. */
export async function freshPostgres(): Promise<string> {
  const cluster = await (started ??= startCluster());
  const name = `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = new SQL(cluster.url("postgres"));
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.close();
  }
  return cluster.url(name);
}

/** The directory of PostgreSQL's server binaries (initdb, pg_ctl), or throws how to get them. */
export function postgresBin(): string {
  const fromConfig = spawnSync("pg_config", ["--bindir"], { encoding: "utf8" });
  const candidates = [
    fromConfig.status === 0 ? fromConfig.stdout.trim() : "",
    ...(existsSync("/usr/lib/postgresql") ? readdirSync("/usr/lib/postgresql").sort().reverse().map((v) => `/usr/lib/postgresql/${v}/bin`) : []),
  ];
  const bin = candidates.find((d) => d && existsSync(join(d, "initdb")) && existsSync(join(d, "pg_ctl")));
  if (!bin) throw new Error("PostgreSQL is not installed: `apt-get install postgresql` (bash .ci/test installs it)");
  return bin;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startCluster(): Promise<Cluster> {
  const bin = postgresBin();
  const dir = mkdtempSync(join(tmpdir(), "tollgate-pg-"));
  const asRoot = process.getuid?.() === 0;
  const as = (cmd: string, args: string[]) =>
    asRoot ? spawnSync("runuser", ["-u", "postgres", "--", cmd, ...args], { encoding: "utf8" }) : spawnSync(cmd, args, { encoding: "utf8" });
  if (asRoot) {
    const ids = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
    const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
    chownSync(dir, Number(ids.stdout), Number(gid.stdout));
  }
  chmodSync(dir, 0o700);
  const data = join(dir, "data");
  const init = as(join(bin, "initdb"), ["-D", data, "-A", "trust", "-U", "tollgate", "-E", "UTF8", "--no-sync"]);
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  // fsync off: a test cluster needs no power-loss durability, and commits stay cheap on a shared disk.
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 -c shared_buffers=64MB`;
  const start = as(join(bin, "pg_ctl"), ["-D", data, "-o", opts, "-l", join(dir, "log"), "-w", "-t", "60", "start"]);
  if (start.status !== 0) throw new Error(`pg_ctl start failed: ${start.stderr}${start.stdout}`);
  // A watchdog outlives this process whatever ends it (bun test emits no "exit" event; kill -9):
  // once the process is gone it stops the cluster and deletes its directory.
  const stop = `${asRoot ? "runuser -u postgres -- " : ""}${join(bin, "pg_ctl")} -D ${data} -m immediate stop`;
  Bun.spawn(["sh", "-c", `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${stop} >/dev/null 2>&1; rm -rf ${dir}`], {
    stdio: ["ignore", "ignore", "ignore"],
  }).unref();
  return { dir, port, url: (database) => `postgres://tollgate@127.0.0.1:${port}/${database}` };
}
