import { SMTPServer } from "smtp-server";

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
