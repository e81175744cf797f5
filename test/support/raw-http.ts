/** A GET written on a socket, so that the Host header is exactly what a client may send; its status. */
export async function rawGet(port: number, target: string, headers: Record<string, string>): Promise<number> {
  const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  const text = await new Promise<string>((resolve, reject) => {
    let buf = "";
    void Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (s) => void s.write(`GET ${target} HTTP/1.1\r\n${head}connection: close\r\n\r\n`),
        data: (_s, d) => void (buf += d.toString()),
        close: () => resolve(buf),
        error: (_s, e) => reject(e),
      },
    });
  });
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)![1]);
}
