/** A request written on a socket, so that the Host header is exactly what a client may send: its status and body. */
export async function rawRequest(port: number, method: string, target: string, headers: Record<string, string>, body = ""): Promise<{ status: number; body: string }> {
  const head = Object.entries({ ...headers, ...(body ? { "content-length": String(Buffer.byteLength(body)) } : {}) })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  const text = await new Promise<string>((resolve, reject) => {
    let buf = "";
    void Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (s) => void s.write(`${method} ${target} HTTP/1.1\r\n${head}connection: close\r\n\r\n${body}`),
        data: (_s, d) => void (buf += d.toString()),
        close: () => resolve(buf),
        error: (_s, e) => reject(e),
      },
    });
  });
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)![1]), body: text.slice(text.indexOf("\r\n\r\n") + 4) };
}

/** A GET written on a socket: its status. */
export const rawGet = async (port: number, target: string, headers: Record<string, string>): Promise<number> => (await rawRequest(port, "GET", target, headers)).status;
