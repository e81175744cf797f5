CREATE TABLE `alert_events` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`kind` text NOT NULL,
	`available_micros` integer NOT NULL,
	`threshold_micros` integer NOT NULL,
	`webhook_status` text NOT NULL,
	`email_status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `alert_events_account` ON `alert_events` (`account_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `alert_settings` (
	`account_id` text PRIMARY KEY NOT NULL,
	`threshold_micros` integer,
	`armed` integer DEFAULT true NOT NULL,
	`fired_ledger_id` integer,
	`last_fired_at` integer,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `payments` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`status` text NOT NULL,
	`currency` text NOT NULL,
	`amount_minor` integer NOT NULL,
	`credit_micros` integer NOT NULL,
	`refunded_minor` integer DEFAULT 0 NOT NULL,
	`debited_micros` integer DEFAULT 0 NOT NULL,
	`stripe_session_id` text,
	`stripe_payment_intent` text,
	`stripe_charge_id` text,
	`checkout_url` text,
	`receipt_url` text,
	`ledger_id` integer,
	`created_at` integer NOT NULL,
	`paid_at` integer,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `payments_session` ON `payments` (`stripe_session_id`) WHERE stripe_session_id is not null;--> statement-breakpoint
CREATE INDEX `payments_intent` ON `payments` (`stripe_payment_intent`);--> statement-breakpoint
CREATE INDEX `payments_charge` ON `payments` (`stripe_charge_id`);--> statement-breakpoint
CREATE INDEX `payments_account` ON `payments` (`account_id`,`created_at`);