import { z } from "zod";

export const CreateAccountBody = z.object({
  name: z.string().trim().min(1).max(200),
  email: z.email().optional(),
  plan: z.string().min(1).max(64).optional(),
});

export const UpdateAccountBody = z.object({
  name: z.string().trim().min(1).max(200).optional(),
  email: z.email().nullable().optional(),
  status: z.enum(["active", "suspended"]).optional(),
});

export const ListAccountsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).default(0),
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
