CREATE TABLE "change_feed_state" (
	"id" bigint PRIMARY KEY NOT NULL,
	"pruned_through_txid" "xid8" DEFAULT '0'::xid8 NOT NULL,
	"pruned_through_seq" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "changes" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"txid" "xid8" DEFAULT pg_current_xact_id() NOT NULL,
	"id" text NOT NULL,
	"type" text NOT NULL,
	"user_id" text NOT NULL,
	"connection_id" uuid NOT NULL,
	"meeting_id" uuid,
	"data" jsonb NOT NULL,
	"occurred_at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
	CONSTRAINT "changes_type_check" CHECK ("changes"."type" in ('meeting.created', 'meeting.updated', 'meeting.canceled', 'connection.updated'))
);
--> statement-breakpoint
ALTER TABLE "meetings" ADD COLUMN "version" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "changes_id_key" ON "changes" USING btree ("id");--> statement-breakpoint
CREATE INDEX "changes_position_idx" ON "changes" USING btree ("txid","seq");--> statement-breakpoint
CREATE INDEX "changes_user_position_idx" ON "changes" USING btree ("user_id","txid","seq");--> statement-breakpoint
CREATE INDEX "changes_occurred_at_idx" ON "changes" USING btree ("occurred_at");--> statement-breakpoint
INSERT INTO "change_feed_state" ("id") VALUES (1);
