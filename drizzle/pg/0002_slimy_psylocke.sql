ALTER TABLE "payments" ADD COLUMN "charge_currency" text;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "charge_amount_minor" bigint;