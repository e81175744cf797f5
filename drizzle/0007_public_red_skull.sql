CREATE TABLE `account_members` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`email` text,
	`role` text NOT NULL,
	`password_hash` text,
	`budget_micros` integer,
	`budget_period` text,
	`last_login_at` integer,
	`removed_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `account_members_account` ON `account_members` (`account_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `account_members_email` ON `account_members` (`email`) WHERE password_hash is not null and removed_at is null;--> statement-breakpoint
CREATE TABLE `budget_spend` (
	`owner` text NOT NULL,
	`day` integer NOT NULL,
	`spent_micros` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`owner`, `day`)
);
--> statement-breakpoint
CREATE INDEX `budget_spend_day` ON `budget_spend` (`day`);--> statement-breakpoint
ALTER TABLE `api_keys` ADD `member_id` text;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `budget_micros` integer;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `budget_period` text;--> statement-breakpoint
CREATE INDEX `api_keys_member` ON `api_keys` (`member_id`);--> statement-breakpoint
ALTER TABLE `deferred_requests` ADD `member_id` text;--> statement-breakpoint
ALTER TABLE `invites` ADD `member_id` text;--> statement-breakpoint
ALTER TABLE `web_sessions` ADD `member_id` text;