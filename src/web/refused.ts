import { html, type Html } from "./html";
import { field, fieldList } from "./forms";

/**
 * A form refused for one wrong field, shown again (status 400) with what was typed, so that only
 * that field needs fixing. Only fields that hold no secret are kept; the page kit escapes them.
 */
export interface Refused {
  /** What was submitted, by field name (a repeated field: every value). */
  values: Record<string, string | string[]>;
  /** The field the message is about ("form": the form as a whole). */
  field: string;
  message: string;
}

/** The named fields of a submitted body, as `Refused.values`; `lists` are repeated fields (checkboxes). */
export function submitted(body: unknown, names: readonly string[], lists: readonly string[] = []): Refused["values"] {
  const out: Refused["values"] = {};
  for (const n of names) out[n] = field(body, n);
  for (const n of lists) out[n] = fieldList(body, n);
  return out;
}

/** The value typed in a field, else `fallback` (the field's value when the form was not refused). */
export function typed(r: Refused | null | undefined, name: string, fallback = ""): string {
  const v = r?.values[name];
  return typeof v === "string" ? v : fallback;
}

/** The values of a repeated field as submitted, else `fallback`. */
export function typedList(r: Refused | null | undefined, name: string, fallback: readonly string[] = []): readonly string[] {
  const v = r?.values[name];
  return Array.isArray(v) ? v : fallback;
}

/** ` aria-invalid` and the described-by list of an input (its hint, and its error when it has one). */
export function invalidAttrs(r: Refused | null | undefined, name: string, id: string, hintId?: string): Html {
  const bad = r?.field === name;
  const described = [hintId, bad ? `${id}-err` : ""].filter(Boolean).join(" ");
  return html`${bad ? html` aria-invalid="true" autofocus` : ""}${described ? html` aria-describedby="${described}"` : ""}`;
}

/** The message next to the field it is about, announced as the page loads (as the billing amount's). */
export function fieldError(r: Refused | null | undefined, name: string, id: string): Html | "" {
  return r?.field === name ? html`<span class="error" id="${id}-err" role="alert">${r.message}</span>` : "";
}
