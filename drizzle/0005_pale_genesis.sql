CREATE TABLE `signup_requests` (
	`id` text PRIMARY KEY NOT NULL,
	`token_hash` text NOT NULL,
	`email` text NOT NULL,
	`name` text NOT NULL,
	`password_hash` text NOT NULL,
	`expires_at` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `signup_requests_token` ON `signup_requests` (`token_hash`);--> statement-breakpoint
CREATE INDEX `signup_requests_email` ON `signup_requests` (`email`);--> statement-breakpoint
CREATE INDEX `signup_requests_expiry` ON `signup_requests` (`expires_at`);--> statement-breakpoint
CREATE TABLE `stripe_deferred_events` (
	`event_id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`payment_intent` text,
	`charge_id` text,
	`object` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `stripe_deferred_intent` ON `stripe_deferred_events` (`payment_intent`);--> statement-breakpoint
CREATE INDEX `stripe_deferred_created` ON `stripe_deferred_events` (`created_at`);