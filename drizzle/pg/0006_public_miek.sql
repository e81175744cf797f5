CREATE TABLE "web_reveals" (
	"id_hash" text PRIMARY KEY NOT NULL,
	"sealed" text NOT NULL,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "web_reveals_expiry" ON "web_reveals" USING btree ("expires_at");