/**
 * An nginx server block from the docs, run as written in an nginx of its own: on a free local
 * port instead of 443, with a self-signed certificate instead of the docs' paths.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";

export interface Nginx {
  /** https://127.0.0.1:<port> (the certificate is self-signed: fetch with tls.rejectUnauthorized false). */
  url: string;
  stop(): Promise<void>;
}

export async function startTlsNginx(dir: string, serverBlock: string): Promise<Nginx> {
  const cert = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=llm.example.com",
    "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdout: "pipe", stderr: "pipe" });
  if (cert.exitCode !== 0) throw new Error(`openssl: ${cert.stderr.toString()}`);
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  const server = serverBlock
    .replace("listen 443 ssl;", `listen 127.0.0.1:${port} ssl;`)
    .replace(/ssl_certificate\s+\S+;/, `ssl_certificate ${join(dir, "cert.pem")};`)
    .replace(/ssl_certificate_key\s+\S+;/, `ssl_certificate_key ${join(dir, "key.pem")};`);
  const temp = join(dir, "nginx-temp");
  mkdirSync(temp);
  chmodSync(temp, 0o777);
  const paths = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `${t}_temp_path ${temp}/${t};`).join("\n");
  writeFileSync(join(dir, "nginx.conf"), `daemon off;\nworker_processes 1;\npid ${dir}/nginx.pid;\nerror_log stderr warn;\nevents {}\nhttp {\naccess_log off;\n${paths}\n${server}\n}\n`);
  const nginx: Subprocess<"ignore", "ignore", "pipe"> = Bun.spawn([Bun.which("nginx") ?? "/usr/sbin/nginx", "-e", "stderr", "-p", dir, "-c", join(dir, "nginx.conf")], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const url = `https://127.0.0.1:${port}`;
  const stop = async () => {
    nginx.kill();
    await nginx.exited;
  };
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(`${url}/healthz`, { tls: { rejectUnauthorized: false } });
      return { url, stop };
    } catch {
      await Bun.sleep(25);
    }
  }
  await stop();
  throw new Error(`nginx did not start: ${await new Response(nginx.stderr).text()}`);
}

/** The fenced block of `lang` in `text` (named `source` in errors) that contains `marker`. */
export function fencedBlock(text: string, source: string, lang: string, marker: string): string {
  const block = [...text.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!).find((b) => b.includes(marker));
  if (!block) throw new Error(`${source} has no \`\`\`${lang} block with ${marker}`);
  return block;
}
