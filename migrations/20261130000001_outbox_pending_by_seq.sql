-- The relay takes the oldest due rows first (ORDER BY seq LIMIT n). Indexed
-- by (next_attempt_at, seq), every due row was read and sorted on each pass:
-- about 35 ms a pass with 10,000 effects waiting (issue 13). Indexed by seq,
-- a pass reads the first n rows in order and skips those not yet due (a
-- retry waiting its backoff), whatever the backlog.
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (seq)
    WHERE published_at IS NULL AND failed_at IS NULL;
