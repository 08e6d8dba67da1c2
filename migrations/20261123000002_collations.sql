-- Agenda collation (issue 3, R3.1): one row per Wednesday meeting whose
-- agenda has been frozen and published. The primary key is what makes
-- collation happen once across instances.
CREATE TABLE collations (
    meeting_date date PRIMARY KEY,
    meeting_at   timestamptz NOT NULL,
    collation_at timestamptz NOT NULL,
    -- When it was actually done: later than collation_at after an outage.
    collated_at  timestamptz NOT NULL,
    -- The agenda as published (agenda.missing-review.v1 data).
    agenda       jsonb       NOT NULL
);
