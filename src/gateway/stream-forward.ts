import type { EventTap } from "./dialects/types";

export type Terminal = "done" | "malformed" | "upstream" | null;

/**
 * The events' forwarded text, through the tap. A whole chunk of unchanged events goes out as
 * the upstream's bytes (`verbatim`, no re-encoding); events after a terminal one are dropped.
 * `final` is the API's terminal event when the tap holds it back until the charge.
 */
export function forwardEvents(tap: EventTap, events: string[], wholeChunk: boolean): { out: string; verbatim: boolean; terminal: Terminal; final?: string | null } {
  let verbatim = wholeChunk;
  let out = "";
  let terminal: Terminal = null;
  let final: string | null | undefined;
  for (let i = 0; i < events.length; i++) {
    const evt = events[i]!;
    const h = tap.handle(evt);
    if (h.pass) {
      if (!verbatim) out += `${evt}\n\n`;
    } else {
      if (verbatim) {
        verbatim = false;
        out = joined(events, i);
      }
      if (h.out) out += h.out;
    }
    if (h.done) {
      terminal = "done";
      final = h.final ?? null;
    } else if (h.error) terminal = h.error;
    if (terminal) {
      if (verbatim && i < events.length - 1) {
        verbatim = false;
        out = joined(events, i + 1);
      }
      break;
    }
  }
  return { out, verbatim, terminal, final };
}

/** The first `n` events as forwarded text (for the rare chunk whose bytes cannot go out as they came). */
function joined(events: string[], n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += `${events[i]}\n\n`;
  return s;
}
