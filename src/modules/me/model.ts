import { z } from "zod";
import { Money } from "../accounts/model";
import { MeLimits } from "../ratelimit/model";

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
  limits: MeLimits.describe("Rate limits (the tighter of key and account levels) and what remains now."),
});
export type MeViewT = z.infer<typeof MeView>;
