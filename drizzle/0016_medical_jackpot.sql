DROP INDEX `usage_daily_key`;--> statement-breakpoint
ALTER TABLE `usage_daily` ADD `key_id` text;--> statement-breakpoint
CREATE UNIQUE INDEX `usage_daily_by_key` ON `usage_daily` (`day`,`account_id`,`key_id`,`model`) WHERE key_id is not null;--> statement-breakpoint
CREATE UNIQUE INDEX `usage_daily_key` ON `usage_daily` (`day`,`account_id`,`model`) WHERE key_id is null;