CREATE TABLE "connections" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" text NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"calendly_user_uri" text,
	"organization_uri" text,
	"access_token_enc" text,
	"refresh_token_enc" text,
	"token_expires_at" timestamp with time zone,
	"token_version" integer DEFAULT 0 NOT NULL,
	"refresh_token_issued_at" timestamp with time zone,
	"webhook_state" text DEFAULT 'pending' NOT NULL,
	"webhook_message" text,
	"last_error" text,
	"last_error_at" timestamp with time zone,
	"last_event_at" timestamp with time zone,
	"last_reconciled_at" timestamp with time zone,
	"last_backfilled_at" timestamp with time zone,
	"last_reconcile_report" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "connections_status_check" CHECK ("connections"."status" in ('active', 'reauth_required', 'disconnected')),
	CONSTRAINT "connections_webhook_state_check" CHECK ("connections"."webhook_state" in ('active', 'pending', 'disabled', 'missing', 'unavailable'))
);
--> statement-breakpoint
CREATE TABLE "event_inbox" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"content_hash" text NOT NULL,
	"hook_id" text NOT NULL,
	"connection_id" uuid NOT NULL,
	"event_type" text,
	"calendly_created_at" timestamp with time zone,
	"body" text NOT NULL,
	"outcome" text DEFAULT 'received' NOT NULL,
	"outcome_detail" text,
	"received_at" timestamp with time zone NOT NULL,
	"processed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "event_inbox_outcome_check" CHECK ("event_inbox"."outcome" in ('received', 'applied', 'stale', 'ignored', 'quarantined', 'invalid'))
);
--> statement-breakpoint
CREATE TABLE "invitees" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"connection_id" uuid NOT NULL,
	"meeting_id" uuid NOT NULL,
	"calendly_invitee_uri" text NOT NULL,
	"calendly_event_uri" text NOT NULL,
	"email" text,
	"name" text,
	"timezone" text,
	"status" text NOT NULL,
	"rescheduled" boolean DEFAULT false NOT NULL,
	"old_invitee_uri" text,
	"new_invitee_uri" text,
	"canceled_by" text,
	"canceler_type" text,
	"cancel_reason" text,
	"canceled_at" timestamp with time zone,
	"questions_and_answers" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"tracking" jsonb,
	"source_updated_at" timestamp with time zone NOT NULL,
	"no_show" boolean DEFAULT false NOT NULL,
	"no_show_uri" text,
	"no_show_updated_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "invitees_status_check" CHECK ("invitees"."status" in ('active', 'canceled'))
);
--> statement-breakpoint
CREATE TABLE "meetings" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"connection_id" uuid NOT NULL,
	"calendly_event_uri" text NOT NULL,
	"name" text,
	"status" text NOT NULL,
	"start_time" timestamp with time zone,
	"end_time" timestamp with time zone,
	"location" jsonb,
	"event_type_uri" text,
	"canceled_at" timestamp with time zone,
	"canceled_by" text,
	"cancel_reason" text,
	"source_updated_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "meetings_status_check" CHECK ("meetings"."status" in ('active', 'canceled'))
);
--> statement-breakpoint
CREATE TABLE "webhook_hooks" (
	"id" text PRIMARY KEY NOT NULL,
	"connection_id" uuid NOT NULL,
	"scope" text DEFAULT 'user' NOT NULL,
	"calendly_user_uri" text,
	"organization_uri" text,
	"subscription_uri" text,
	"callback_url" text NOT NULL,
	"events" text[] DEFAULT '{}'::text[] NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"signing_key_enc" text NOT NULL,
	"replaces_hook_id" text,
	"retired_at" timestamp with time zone,
	"retry_started_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "webhook_hooks_scope_check" CHECK ("webhook_hooks"."scope" in ('user', 'organization', 'group')),
	CONSTRAINT "webhook_hooks_state_check" CHECK ("webhook_hooks"."state" in ('pending', 'active', 'disabled', 'retired'))
);
--> statement-breakpoint
ALTER TABLE "event_inbox" ADD CONSTRAINT "event_inbox_connection_id_connections_id_fk" FOREIGN KEY ("connection_id") REFERENCES "public"."connections"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "invitees" ADD CONSTRAINT "invitees_connection_id_connections_id_fk" FOREIGN KEY ("connection_id") REFERENCES "public"."connections"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "invitees" ADD CONSTRAINT "invitees_meeting_id_meetings_id_fk" FOREIGN KEY ("meeting_id") REFERENCES "public"."meetings"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "meetings" ADD CONSTRAINT "meetings_connection_id_connections_id_fk" FOREIGN KEY ("connection_id") REFERENCES "public"."connections"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_hooks" ADD CONSTRAINT "webhook_hooks_connection_id_connections_id_fk" FOREIGN KEY ("connection_id") REFERENCES "public"."connections"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "connections_user_id_key" ON "connections" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "connections_calendly_user_idx" ON "connections" USING btree ("calendly_user_uri");--> statement-breakpoint
CREATE INDEX "connections_status_idx" ON "connections" USING btree ("status");--> statement-breakpoint
CREATE UNIQUE INDEX "event_inbox_content_hash_key" ON "event_inbox" USING btree ("content_hash");--> statement-breakpoint
CREATE INDEX "event_inbox_connection_idx" ON "event_inbox" USING btree ("connection_id","created_at");--> statement-breakpoint
CREATE INDEX "event_inbox_outcome_idx" ON "event_inbox" USING btree ("outcome");--> statement-breakpoint
CREATE UNIQUE INDEX "invitees_connection_invitee_key" ON "invitees" USING btree ("connection_id","calendly_invitee_uri");--> statement-breakpoint
CREATE INDEX "invitees_meeting_idx" ON "invitees" USING btree ("meeting_id");--> statement-breakpoint
CREATE UNIQUE INDEX "meetings_connection_event_key" ON "meetings" USING btree ("connection_id","calendly_event_uri");--> statement-breakpoint
CREATE INDEX "meetings_connection_start_idx" ON "meetings" USING btree ("connection_id","start_time","id");--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_hooks_subscription_uri_key" ON "webhook_hooks" USING btree ("subscription_uri");--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_hooks_callback_url_key" ON "webhook_hooks" USING btree ("callback_url");--> statement-breakpoint
CREATE INDEX "webhook_hooks_connection_idx" ON "webhook_hooks" USING btree ("connection_id");