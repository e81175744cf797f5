import { afterAll, beforeAll } from "bun:test";
import { SMTPServer } from "smtp-server";
import { startGateway, type Gateway } from "./gateway";

/** A message the fake SMTP server received (quoted-printable soft line breaks undone). */
export interface Mail {
  from: string;
  to: string[];
  data: string;
}

/** An SMTP server on a free loopback port that keeps every message it receives. */
export async function startSmtp() {
  const mails: Mail[] = [];
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, done) {
      let data = "";
      stream.on("data", (c: Buffer) => (data += c.toString()));
      stream.on("end", () => {
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
        mails.push({ from, to: session.envelope.rcptTo.map((r) => r.address), data: data.replace(/=\r?\n/g, "") });
        done();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", () => resolve()));
  const port = (smtp.server.address() as { port: number }).port;
  return { port, mails, stop: () => new Promise<void>((resolve) => smtp.close(() => resolve())) };
}

/** The public address sign-up links are made from in signupGateway. */
export const SIGNUP_PUBLIC = "https://gw.example.com";

/**
 * A gateway with open sign-up, mailing through a fake SMTP server, addresses read from
 * x-forwarded-for (the throttles are per client address), `config` merged over; started before
 * the file's tests, stopped after. Read `srv` and `smtp` inside tests.
 */
export function signupGateway(config: Record<string, unknown> = {}): { readonly srv: Gateway; readonly smtp: Awaited<ReturnType<typeof startSmtp>> } {
  const ctx = {} as { srv: Gateway; smtp: Awaited<ReturnType<typeof startSmtp>> };
  beforeAll(async () => {
    ctx.smtp = await startSmtp();
    ctx.srv = await startGateway({
      config: { signup_enabled: true, trusted_proxy_header: "x-forwarded-for", smtp_host: "127.0.0.1", smtp_port: ctx.smtp.port, smtp_from: "portal@gw.example.com", public_url: SIGNUP_PUBLIC, ...config },
    });
  });
  afterAll(async () => {
    await ctx.srv?.stop();
    await ctx.smtp?.stop();
  });
  return ctx;
}
