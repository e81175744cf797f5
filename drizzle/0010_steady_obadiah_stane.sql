ALTER TABLE `deferred_requests` ADD `result` text;--> statement-breakpoint
ALTER TABLE `deferred_requests` ADD `fetching_until` integer;