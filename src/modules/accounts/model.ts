import { z } from "zod";
import { queryInt } from "../../lib/query-int";

export const NAME_MAX = 200;
// Names show in tables, logs and CSV exports: a control character (NUL, a line break) garbles them, and
// a name of spaces or zero-width characters shows as nothing. C0, DEL, C1 and U+2028/9 count as control.
const CONTROL = /[\p{Cc}\u2028\u2029]/u;
const VISIBLE = /[^\s\p{Cf}]/u;
export const hasVisible = (s: string): boolean => VISIBLE.test(s);
export const hasControl = (s: string): boolean => CONTROL.test(s);

/** A name: trimmed, with a visible character, no control characters, at most NAME_MAX characters. */
export const Name = z
  .string()
  .refine(hasVisible, "must not be blank")
  .trim()
  .min(1)
  .max(NAME_MAX)
  .refine((s) => !hasControl(s), "must not contain control characters (line breaks, tabs, NUL)");

/** RFC 5321 caps a forward path at 256 octets, so an address is at most 254 characters. */
export const EmailAddress = z.email().max(254, "must be at most 254 characters");

export const CreateAccountBody = z.strictObject({
  name: Name,
  email: EmailAddress.optional(),
  plan: z.string().min(1).max(64).optional(),
});

export const UpdateAccountBody = z.strictObject(
  {
    name: Name.optional(),
    email: EmailAddress.nullable().optional(),
    status: z.enum(["active", "suspended"]).optional(),
  },
  {
    // The plan has its own audited route: point there rather than only refusing the field.
    error: (iss) =>
      iss.code === "unrecognized_keys" && iss.keys.includes("plan")
        ? `Unrecognized key${iss.keys.length > 1 ? "s" : ""}: ${iss.keys.map((k) => `"${k}"`).join(", ")} (change the plan with PUT /admin/accounts/:id/plan)`
        : undefined,
  },
);

export const ListAccountsQuery = z.object({
  limit: queryInt(1, 500).default(100),
  offset: queryInt(0, Number.MAX_SAFE_INTEGER).default(0),
  q: z.string().optional().describe("Case-insensitive search in name, email and id."),
});

export const Money = {
  balance_micros: z.number().int(),
  held_micros: z.number().int(),
  available_micros: z.number().int(),
  balance_usd: z.string(),
  held_usd: z.string(),
  available_usd: z.string(),
};

export const AccountView = z.object({
  id: z.string(),
  object: z.literal("account"),
  name: z.string(),
  email: z.string().nullable(),
  plan: z.string(),
  status: z.enum(["active", "suspended"]),
  ...Money,
  lifetime_topup_micros: z.number().int(),
  created_at: z.number().int().describe("Unix seconds."),
});

export const AccountList = z.object({ object: z.literal("list"), data: z.array(AccountView), has_more: z.boolean() });
export const IdParams = z.object({ id: z.string() });

export type CreateAccountInput = z.infer<typeof CreateAccountBody>;
export type UpdateAccountInput = z.infer<typeof UpdateAccountBody>;
export type AccountViewT = z.infer<typeof AccountView>;
