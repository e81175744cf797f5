import { z } from "zod";
import { queryInt } from "../../lib/query-int";

export const AuditQuery = z.object({
  limit: queryInt(1, 500).default(100),
  before: queryInt(1, Number.MAX_SAFE_INTEGER).optional().describe("Return entries with an id below this (paging)."),
  target_id: z.string().optional(),
});

export const AuditEntry = z.object({
  id: z.number().int(),
  actor: z.string(),
  action: z.string(),
  target_type: z.string(),
  target_id: z.string(),
  before: z.unknown().nullable(),
  after: z.unknown().nullable(),
  created_at: z.number().int().describe("Unix seconds."),
});

export const AuditList = z.object({ object: z.literal("list"), data: z.array(AuditEntry), has_more: z.boolean() });
