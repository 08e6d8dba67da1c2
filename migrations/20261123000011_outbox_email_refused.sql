-- GOV.UK Notify, per recipient: those Notify refused for good are not asked
-- again while others of the same e-mail are still being retried, and the
-- first refusal's error name is kept for when the e-mail is marked failed.
ALTER TABLE outbox
    ADD COLUMN email_refused_to integer[] NOT NULL DEFAULT '{}',
    ADD COLUMN email_refusal    text;
