/**
 * SSE text for a whole answer sent as a stream (Dialect.wholeAsStream): the answer is already
 * charged and rendered, and is written out in the events the client's SDK reads.
 */

/** An unnamed event (chat, legacy completions). */
export const dataEvent = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`;

/** A named event (Responses, Messages): its name on an `event:` line, as the upstream sends it. */
export const namedEvent = (name: string, data: unknown): string => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

export type Json = Record<string, unknown>;

/** The rendered answer as an object (it is one: whole() read it as one). */
export const parsed = (rendered: string): Json => JSON.parse(rendered) as Json;

export const isJson = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** An array field, or none. */
export const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
