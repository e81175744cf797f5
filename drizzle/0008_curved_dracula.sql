ALTER TABLE `payments` ADD `charge_currency` text;--> statement-breakpoint
ALTER TABLE `payments` ADD `charge_amount_minor` integer;