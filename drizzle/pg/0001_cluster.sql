CREATE TABLE "credit_leases" (
	"scope" text NOT NULL,
	"instance_id" text NOT NULL,
	"amount_micros" bigint NOT NULL,
	"held_micros" bigint DEFAULT 0 NOT NULL,
	"expires_at" bigint NOT NULL,
	CONSTRAINT "credit_leases_scope_instance_id_pk" PRIMARY KEY("scope","instance_id")
);
--> statement-breakpoint
CREATE TABLE "instances" (
	"id" text PRIMARY KEY NOT NULL,
	"host" text NOT NULL,
	"started_at" bigint NOT NULL,
	"seen_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ratelimit_shared" (
	"id" text PRIMARY KEY NOT NULL,
	"level" bigint NOT NULL,
	"per_minute" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "credit_leases_instance" ON "credit_leases" USING btree ("instance_id");