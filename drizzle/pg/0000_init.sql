CREATE TABLE "account_logins" (
	"account_id" text PRIMARY KEY NOT NULL,
	"email" text NOT NULL,
	"password_hash" text NOT NULL,
	"last_login_at" bigint,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "account_members" (
	"id" text PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"email" text,
	"role" text NOT NULL,
	"password_hash" text,
	"budget_micros" bigint,
	"budget_period" text,
	"last_login_at" bigint,
	"removed_at" bigint,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "accounts" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"email" text,
	"plan" text DEFAULT 'default' NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"balance_micros" bigint DEFAULT 0 NOT NULL,
	"lifetime_topup_micros" bigint DEFAULT 0 NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "alert_events" (
	"id" text PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"kind" text NOT NULL,
	"available_micros" bigint NOT NULL,
	"threshold_micros" bigint NOT NULL,
	"webhook_status" text NOT NULL,
	"email_status" text NOT NULL,
	"attempts" bigint DEFAULT 0 NOT NULL,
	"last_error" text,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "alert_settings" (
	"account_id" text PRIMARY KEY NOT NULL,
	"threshold_micros" bigint,
	"armed" boolean DEFAULT true NOT NULL,
	"fired_ledger_id" bigint,
	"last_fired_at" bigint,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"name" text DEFAULT '' NOT NULL,
	"hash" text NOT NULL,
	"prefix" text NOT NULL,
	"last4" text NOT NULL,
	"models" text,
	"expires_at" bigint,
	"spend_cap_micros" bigint,
	"spent_micros" bigint DEFAULT 0 NOT NULL,
	"revoked_at" bigint,
	"rotated_to" text,
	"last_used_at" bigint,
	"created_at" bigint NOT NULL,
	"member_id" text,
	"budget_micros" bigint,
	"budget_period" text
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"target_type" text NOT NULL,
	"target_id" text NOT NULL,
	"before" text,
	"after" text,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "budget_spend" (
	"owner" text NOT NULL,
	"day" bigint NOT NULL,
	"spent_micros" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "budget_spend_owner_day_pk" PRIMARY KEY("owner","day")
);
--> statement-breakpoint
CREATE TABLE "credit_holds" (
	"request_id" text PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"key_id" text,
	"amount_micros" bigint NOT NULL,
	"expires_at" bigint NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "deferred_requests" (
	"request_id" text PRIMARY KEY NOT NULL,
	"upstream_id" text NOT NULL,
	"account_id" text NOT NULL,
	"key_id" text,
	"cap_key_id" text,
	"member_id" text,
	"target" text NOT NULL,
	"model" text NOT NULL,
	"hold_micros" bigint NOT NULL,
	"settled_at" bigint,
	"charge_micros" bigint,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "idempotency_keys" (
	"scope" text NOT NULL,
	"key" text NOT NULL,
	"body_hash" text NOT NULL,
	"status" bigint NOT NULL,
	"response" text NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "invites" (
	"id" text PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"member_id" text,
	"token_hash" text NOT NULL,
	"email" text,
	"expires_at" bigint NOT NULL,
	"used_at" bigint,
	"created_by" text NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "key_limits" (
	"key_id" text PRIMARY KEY NOT NULL,
	"rpm" bigint,
	"tpm" bigint,
	"concurrency" bigint,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ledger_entries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"kind" text NOT NULL,
	"amount_micros" bigint NOT NULL,
	"balance_after_micros" bigint NOT NULL,
	"request_id" text,
	"key_id" text,
	"ref" text,
	"note" text,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "payments" (
	"id" text PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"status" text NOT NULL,
	"currency" text NOT NULL,
	"amount_minor" bigint NOT NULL,
	"credit_micros" bigint NOT NULL,
	"refunded_minor" bigint DEFAULT 0 NOT NULL,
	"debited_micros" bigint DEFAULT 0 NOT NULL,
	"stripe_session_id" text,
	"stripe_payment_intent" text,
	"stripe_charge_id" text,
	"checkout_url" text,
	"receipt_url" text,
	"ledger_id" bigint,
	"created_at" bigint NOT NULL,
	"paid_at" bigint,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ratelimit_buckets" (
	"id" text PRIMARY KEY NOT NULL,
	"level" bigint NOT NULL,
	"per_minute" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "redemption_codes" (
	"id" text PRIMARY KEY NOT NULL,
	"batch" text NOT NULL,
	"code_hash" text NOT NULL,
	"last4" text NOT NULL,
	"amount_micros" bigint NOT NULL,
	"note" text,
	"expires_at" bigint,
	"redeemed_by" text,
	"redeemed_at" bigint,
	"ledger_id" bigint,
	"created_by" text NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "settings" (
	"key" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "signup_requests" (
	"id" text PRIMARY KEY NOT NULL,
	"token_hash" text NOT NULL,
	"email" text NOT NULL,
	"name" text NOT NULL,
	"password_hash" text NOT NULL,
	"expires_at" bigint NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stripe_deferred_events" (
	"event_id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"payment_intent" text,
	"charge_id" text,
	"object" text NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "upstream_objects" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"account_id" text NOT NULL,
	"key_id" text,
	"target" text NOT NULL,
	"model" text NOT NULL,
	"tokens" bigint DEFAULT 0 NOT NULL,
	"charge_micros" bigint DEFAULT 0 NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "usage_daily" (
	"day" text NOT NULL,
	"account_id" text NOT NULL,
	"model" text NOT NULL,
	"requests" bigint NOT NULL,
	"prompt_tokens" bigint NOT NULL,
	"cached_tokens" bigint NOT NULL,
	"completion_tokens" bigint NOT NULL,
	"reasoning_tokens" bigint NOT NULL,
	"cost_micros" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "usage_log" (
	"request_id" text PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"key_id" text,
	"model" text NOT NULL,
	"stream" boolean NOT NULL,
	"status" bigint NOT NULL,
	"prompt_tokens" bigint DEFAULT 0 NOT NULL,
	"cached_tokens" bigint DEFAULT 0 NOT NULL,
	"completion_tokens" bigint DEFAULT 0 NOT NULL,
	"reasoning_tokens" bigint DEFAULT 0 NOT NULL,
	"cost_micros" bigint DEFAULT 0 NOT NULL,
	"estimated" boolean DEFAULT false NOT NULL,
	"latency_ms" bigint DEFAULT 0 NOT NULL,
	"ttft_ms" bigint,
	"upstream_request_id" text,
	"error_code" text,
	"created_at" bigint NOT NULL,
	"endpoint" text DEFAULT 'chat.completions' NOT NULL,
	"upstream" text,
	"overage_micros" bigint DEFAULT 0 NOT NULL,
	"upstream_cost_micros" bigint
);
--> statement-breakpoint
CREATE TABLE "web_sessions" (
	"id_hash" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"account_id" text,
	"member_id" text,
	"csrf" text NOT NULL,
	"expires_at" bigint NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "account_logins" ADD CONSTRAINT "account_logins_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "account_members" ADD CONSTRAINT "account_members_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "alert_events" ADD CONSTRAINT "alert_events_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "alert_settings" ADD CONSTRAINT "alert_settings_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "invites" ADD CONSTRAINT "invites_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "key_limits" ADD CONSTRAINT "key_limits_key_id_api_keys_id_fk" FOREIGN KEY ("key_id") REFERENCES "public"."api_keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "account_logins_email" ON "account_logins" USING btree ("email");--> statement-breakpoint
CREATE INDEX "account_members_account" ON "account_members" USING btree ("account_id");--> statement-breakpoint
CREATE UNIQUE INDEX "account_members_email" ON "account_members" USING btree ("email") WHERE password_hash is not null and removed_at is null;--> statement-breakpoint
CREATE INDEX "alert_events_account" ON "alert_events" USING btree ("account_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_hash" ON "api_keys" USING btree ("hash");--> statement-breakpoint
CREATE INDEX "api_keys_account" ON "api_keys" USING btree ("account_id");--> statement-breakpoint
CREATE INDEX "api_keys_member" ON "api_keys" USING btree ("member_id");--> statement-breakpoint
CREATE INDEX "audit_target" ON "audit_log" USING btree ("target_type","target_id");--> statement-breakpoint
CREATE INDEX "budget_spend_day" ON "budget_spend" USING btree ("day");--> statement-breakpoint
CREATE INDEX "holds_account" ON "credit_holds" USING btree ("account_id");--> statement-breakpoint
CREATE INDEX "deferred_pending" ON "deferred_requests" USING btree ("settled_at","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "idempotency_scope_key" ON "idempotency_keys" USING btree ("scope","key");--> statement-breakpoint
CREATE UNIQUE INDEX "invites_token" ON "invites" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "invites_account" ON "invites" USING btree ("account_id");--> statement-breakpoint
CREATE INDEX "ledger_account_id" ON "ledger_entries" USING btree ("account_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "ledger_request" ON "ledger_entries" USING btree ("request_id") WHERE request_id is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "ledger_ref" ON "ledger_entries" USING btree ("account_id","kind","ref") WHERE ref is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "payments_session" ON "payments" USING btree ("stripe_session_id") WHERE stripe_session_id is not null;--> statement-breakpoint
CREATE INDEX "payments_intent" ON "payments" USING btree ("stripe_payment_intent");--> statement-breakpoint
CREATE INDEX "payments_charge" ON "payments" USING btree ("stripe_charge_id");--> statement-breakpoint
CREATE INDEX "payments_account" ON "payments" USING btree ("account_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "redemption_codes_hash" ON "redemption_codes" USING btree ("code_hash");--> statement-breakpoint
CREATE INDEX "redemption_codes_batch" ON "redemption_codes" USING btree ("batch");--> statement-breakpoint
CREATE UNIQUE INDEX "signup_requests_token" ON "signup_requests" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "signup_requests_email" ON "signup_requests" USING btree ("email");--> statement-breakpoint
CREATE INDEX "signup_requests_expiry" ON "signup_requests" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "stripe_deferred_intent" ON "stripe_deferred_events" USING btree ("payment_intent");--> statement-breakpoint
CREATE INDEX "stripe_deferred_created" ON "stripe_deferred_events" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "upstream_objects_account" ON "upstream_objects" USING btree ("account_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "usage_daily_key" ON "usage_daily" USING btree ("day","account_id","model");--> statement-breakpoint
CREATE INDEX "usage_account_time" ON "usage_log" USING btree ("account_id","created_at");--> statement-breakpoint
CREATE INDEX "usage_time" ON "usage_log" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "web_sessions_account" ON "web_sessions" USING btree ("account_id");--> statement-breakpoint
CREATE INDEX "web_sessions_expiry" ON "web_sessions" USING btree ("expires_at");