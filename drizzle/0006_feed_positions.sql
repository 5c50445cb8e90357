CREATE TABLE "change_positions" (
	"position" bigserial PRIMARY KEY NOT NULL,
	"txid" "xid8" NOT NULL
);
--> statement-breakpoint
ALTER TABLE "change_feed_state" ADD COLUMN "positioned_below" "xid8" DEFAULT '0'::xid8 NOT NULL;--> statement-breakpoint
ALTER TABLE "change_feed_state" ADD COLUMN "pruned_through_position" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "change_positions_txid_key" ON "change_positions" USING btree ("txid");--> statement-breakpoint
ALTER TABLE "change_feed_state" DROP COLUMN "pruned_through_txid";