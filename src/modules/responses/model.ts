import { z } from "zod";

export const ResponseParams = z.object({ id: z.string().min(1).max(200) });
