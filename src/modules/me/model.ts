import { z } from "zod";
import { Money } from "../accounts/model";

export const MeView = z.object({
  object: z.literal("me"),
  account_id: z.string(),
  account_name: z.string(),
  plan: z.string(),
  ...Money,
  key: z.object({
    id: z.string(),
    name: z.string(),
    display: z.string(),
    expires_at: z.number().int().nullable(),
    models: z.array(z.string()).nullable(),
    spend_cap_micros: z.number().int().nullable(),
    spent_micros: z.number().int(),
  }),
});
export type MeViewT = z.infer<typeof MeView>;
