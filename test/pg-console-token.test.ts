/**
 * Changing the admin token on PostgreSQL, instance by instance (the usual rolling restart), locks
 * out whoever learnt the old one: a console session opened with the old token on an instance not
 * yet restarted opens the console on no instance running the new token, and is ended once every
 * instance runs it. The operator's session opened with the new token meanwhile is refused by the
 * instance still on the old token, but not ended: it opens the console everywhere afterwards.
 */
import { SQL } from "bun";
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { freshPostgres } from "./support/postgres";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";
import { WebClient } from "./support/web-client";

setDefaultTimeout(120_000);
const OLD = "old-admin-token-0123456789";
const NEW = "new-admin-token-9876543210";
const running: BinaryGateway[] = [];
afterAll(async () => {
  await Promise.all(running.map((g) => g.stop("SIGTERM")));
});

/** What a console page answers at `g` to the session of `who`: 200, or 303 to the sign-in. */
async function consoleAt(g: BinaryGateway, who: WebClient): Promise<number> {
  const res = await fetch(g.url + "/console/accounts", { headers: { cookie: who.header() }, redirect: "manual" });
  await res.arrayBuffer();
  if (res.status === 303) expect(res.headers.get("location")).toStartWith("/console/login");
  return res.status;
}

test("a rolling change of the admin token ends the old token's console sessions on every instance", async () => {
  const url = await freshPostgres();
  const start = async (id: string, token: string) => {
    const g = await startBinaryGateway({ entry: "source", adminToken: token, config: { log_format: "off" }, env: { TOLLGATE_DATABASE_URL: url, TOLLGATE_INSTANCE_ID: id } });
    running.push(g);
    return g;
  };
  const a = await start("a1", OLD);
  const b = await start("b1", OLD);

  // The operator rolls the new token out: instance a first, and signs in there with it.
  await a.stop("SIGTERM");
  const a2 = await start("a2", NEW);
  const operator = new WebClient(a2.url);
  expect((await operator.submit("/console/login", "/console/login", { token: NEW })).status).toBe(303);

  // Whoever learnt the old token signs in at b, not restarted yet.
  const thief = new WebClient(b.url);
  expect((await thief.submit("/console/login", "/console/login", { token: OLD })).status).toBe(303);
  // Each instance judges a session by its own token, whichever instance started last.
  expect({ thief: { a2: await consoleAt(a2, thief), b: await consoleAt(b, thief) } }).toEqual({ thief: { a2: 303, b: 200 } });
  expect({ operator: { a2: await consoleAt(a2, operator), b: await consoleAt(b, operator) } }).toEqual({ operator: { a2: 200, b: 303 } });

  // Then b too runs with the new token: every instance has it now.
  await b.stop("SIGTERM");
  const b2 = await start("b2", NEW);
  expect((await new WebClient(b2.url).submit("/console/login", "/console/login", { token: OLD })).status).toBe(401);
  expect({ thief: { a2: await consoleAt(a2, thief), b2: await consoleAt(b2, thief) } }).toEqual({ thief: { a2: 303, b2: 303 } });
  expect({ operator: { a2: await consoleAt(a2, operator), b2: await consoleAt(b2, operator) } }).toEqual({ operator: { a2: 200, b2: 200 } });
  // b2's start deleted the thief's row (audited); the operator's is the one console session left.
  const sql = new SQL(url, { max: 1 });
  try {
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM web_sessions WHERE kind = 'admin'`;
    const ended = await sql`SELECT after FROM audit_log WHERE action = 'console.sessions_ended' ORDER BY id`;
    expect({ sessions: n, ended: ended.map((r: { after: string }) => JSON.parse(r.after)) }).toEqual({ sessions: 1, ended: [{ ended: 1 }] });
  } finally {
    await sql.close();
  }
});
