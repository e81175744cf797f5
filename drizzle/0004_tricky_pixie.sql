ALTER TABLE `usage_log` ADD `endpoint` text DEFAULT 'chat.completions' NOT NULL;--> statement-breakpoint
ALTER TABLE `usage_log` ADD `upstream` text;--> statement-breakpoint
ALTER TABLE `usage_log` ADD `overage_micros` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `usage_log` ADD `upstream_cost_micros` integer;