CREATE TABLE `deferred_requests` (
	`request_id` text PRIMARY KEY NOT NULL,
	`upstream_id` text NOT NULL,
	`account_id` text NOT NULL,
	`key_id` text,
	`cap_key_id` text,
	`target` text NOT NULL,
	`model` text NOT NULL,
	`hold_micros` integer NOT NULL,
	`settled_at` integer,
	`charge_micros` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `deferred_pending` ON `deferred_requests` (`settled_at`,`created_at`);--> statement-breakpoint
CREATE TABLE `upstream_objects` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`account_id` text NOT NULL,
	`key_id` text,
	`target` text NOT NULL,
	`model` text NOT NULL,
	`tokens` integer DEFAULT 0 NOT NULL,
	`charge_micros` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `upstream_objects_account` ON `upstream_objects` (`account_id`,`created_at`);