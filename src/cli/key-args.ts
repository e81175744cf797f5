import { z } from "zod";
import { UsageError } from "./args";
import { isoTime } from "./command";

/** `--expires` (and `--expires-at`): unix seconds, an ISO 8601 date-time with offset, or a plain date (midnight UTC). */
export function parseExpires(text: string, now = Date.now(), flag = "--expires"): number | string {
  let value: number | string;
  if (/^\d+$/.test(text)) {
    value = Number(text);
    if (value > 1e11) throw new UsageError(`${flag}: expected unix seconds, got what looks like milliseconds`);
  } else {
    value = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text;
    if (!z.iso.datetime({ offset: true }).safeParse(value).success) {
      throw new UsageError(`${flag}: expected unix seconds or an ISO 8601 date-time such as 2030-01-31T00:00:00Z, got ${JSON.stringify(text)}`);
    }
  }
  const ms = typeof value === "number" ? value * 1000 : Date.parse(value);
  if (!(ms > now)) throw new UsageError(`${flag}: must be in the future (got ${isoTime(ms)})`);
  return value;
}
