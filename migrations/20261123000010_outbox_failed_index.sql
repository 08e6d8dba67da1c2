-- `GET /metrics` counts failed effects at every scrape; failed rows are
-- kept forever, so the count reads this small index rather than the table.
CREATE INDEX outbox_failed ON outbox (failed_at) WHERE failed_at IS NOT NULL;
