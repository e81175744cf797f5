CREATE TABLE `key_limits` (
	`key_id` text PRIMARY KEY NOT NULL,
	`rpm` integer,
	`tpm` integer,
	`concurrency` integer,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`key_id`) REFERENCES `api_keys`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `ratelimit_buckets` (
	`id` text PRIMARY KEY NOT NULL,
	`level` integer NOT NULL,
	`per_minute` integer NOT NULL,
	`updated_at` integer NOT NULL
);
