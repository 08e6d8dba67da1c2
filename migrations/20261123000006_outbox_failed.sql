-- E-mail through GOV.UK Notify (issue 4 item 4): an effect that cannot be
-- delivered (Notify refused it, or it ran out of attempts) is marked failed
-- and kept, never deleted; operations are alerted. The relay skips it.
ALTER TABLE outbox ADD COLUMN failed_at timestamptz;

-- Recipients (indexes into the e-mail's `to`) Notify has accepted, so that a
-- retry never sends the same e-mail to the same person twice.
ALTER TABLE outbox ADD COLUMN email_sent_to integer[] NOT NULL DEFAULT '{}';

DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (next_attempt_at, seq)
    WHERE published_at IS NULL AND failed_at IS NULL;
