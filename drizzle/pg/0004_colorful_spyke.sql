ALTER TABLE "deferred_requests" ADD COLUMN "result" text;--> statement-breakpoint
ALTER TABLE "deferred_requests" ADD COLUMN "fetching_until" bigint;