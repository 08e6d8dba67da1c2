-- Decisions of the monthly VPG meeting (issue 4, R6): one per meeting and
-- child, so a repeated decision makes nothing happen twice. The free-text
-- outcome is not kept: it goes only into the case note (R7.2).
CREATE TABLE vpg_decisions (
    meeting_date  date        NOT NULL,
    lcs_person_id text        NOT NULL,
    decision      text        NOT NULL CHECK (decision IN ('close', 'remain')),
    recorded_at   timestamptz NOT NULL,
    PRIMARY KEY (meeting_date, lcs_person_id)
);
