-- GOV.UK Notify delivery (issue 10 item 7): a 201 only means Notify took the
-- e-mail. Each accepted recipient's notification is polled until Notify says
-- it was delivered or failed; a failure alerts operations. One row per
-- recipient Notify accepted, removed with its e-mail's outbox row.
CREATE TABLE email_deliveries (
    -- Notify's notification id, from its 201.
    notification_id uuid        PRIMARY KEY,
    event_id        uuid        NOT NULL REFERENCES outbox (event_id) ON DELETE CASCADE,
    -- Index into the e-mail's `to`: never the address.
    recipient       integer     NOT NULL,
    accepted_at     timestamptz NOT NULL DEFAULT now(),
    polls           integer     NOT NULL DEFAULT 0,
    next_poll_at    timestamptz NOT NULL,
    -- Notify's latest status (a known status name, or `unknown`).
    status          text        NOT NULL DEFAULT 'created',
    -- Why the last poll got no status: an error name, never free text.
    last_error      text,
    -- Set once, with the final status: `delivered` or a failure.
    final_status    text,
    -- The alert's error code when it failed (a Notify status, or
    -- `delivery_status_timeout` when no final status came in time).
    failure         text,
    finished_at     timestamptz
);
CREATE INDEX email_deliveries_due ON email_deliveries (next_poll_at)
    WHERE finished_at IS NULL;
CREATE INDEX email_deliveries_event ON email_deliveries (event_id);
