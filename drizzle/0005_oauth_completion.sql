ALTER TABLE "oauth_states" ADD COLUMN "code_enc" text;--> statement-breakpoint
ALTER TABLE "oauth_states" ADD COLUMN "completion_hash" text;--> statement-breakpoint
ALTER TABLE "oauth_states" ADD COLUMN "completion_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "oauth_states" ADD COLUMN "completed_at" timestamp with time zone;--> statement-breakpoint
CREATE UNIQUE INDEX "oauth_states_completion_hash_idx" ON "oauth_states" USING btree ("completion_hash");