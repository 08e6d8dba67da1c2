-- The weekly and monthly VPG agendas (issue 3, R3.4, R6.4): one row per
-- published agenda. The primary key is what makes publication happen once
-- across instances.
CREATE TABLE vpg_agendas (
    -- 'weekly' (M2) or 'monthly' (M3).
    kind         text        NOT NULL CHECK (kind IN ('weekly', 'monthly')),
    meeting_date date        NOT NULL,
    -- When it was actually published: later than its publication instant
    -- after an outage.
    published_at timestamptz NOT NULL,
    -- The agenda as published (agenda.vpg-weekly.v1 / agenda.vpg-monthly.v1 data).
    agenda       jsonb       NOT NULL,
    PRIMARY KEY (kind, meeting_date)
);

-- The VPG agendas select children by their VEMT status.
CREATE INDEX children_vemt_status ON children ((record->'vemt'->>'status'));
