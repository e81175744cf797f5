DROP INDEX `deferred_pending`;--> statement-breakpoint
CREATE INDEX `deferred_pending` ON `deferred_requests` (`settled_at`,`created_at`,`request_id`);