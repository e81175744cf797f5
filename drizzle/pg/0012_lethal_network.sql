DROP INDEX "deferred_pending";--> statement-breakpoint
CREATE INDEX "deferred_pending" ON "deferred_requests" USING btree ("settled_at","created_at","request_id");