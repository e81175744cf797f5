import type { Transporter } from "nodemailer";
import type { Config } from "../config/load";

export interface Mail {
  to: string;
  bcc?: string;
  subject: string;
  text: string;
  headers?: Record<string, string>;
}

/**
 * Email through the configured SMTP server (sign-up and invitation links, low-balance alerts);
 * nodemailer is loaded on the first message, from a chunk of its own: most gateways never send
 * email, and the library costs start-up time and memory.
 */
export class Mailer {
  private transport: Transporter | null = null;

  constructor(private readonly config: Config) {}

  async send(mail: Mail): Promise<void> {
    if (!this.config.smtp_host) throw new Error("no SMTP server configured (smtp_host)");
    this.transport ??= (await import("nodemailer")).createTransport({
      host: this.config.smtp_host,
      port: this.config.smtp_port,
      secure: this.config.smtp_secure,
      auth: this.config.smtp_user ? { user: this.config.smtp_user, pass: this.config.smtp_password ?? "" } : undefined,
    });
    await this.transport.sendMail({ from: this.config.smtp_from, ...mail });
  }

  close(): void {
    this.transport?.close();
  }
}
