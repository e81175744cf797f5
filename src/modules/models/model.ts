import { z } from "zod";

export const ModelObject = z.object({
  id: z.string(),
  object: z.literal("model"),
  created: z.number().int(),
  owned_by: z.string(),
});

export const ModelList = z.object({ object: z.literal("list"), data: z.array(ModelObject) });
export const ModelParams = z.object({ model: z.string() });
