-- Meeting outcomes (R5): one per child and M1 meeting, and the actions the
-- minutes record. The outcome text is kept because the agendas show it
-- (R3.2, R3.4); the discussion is not stored: it goes only into the case
-- note (R7.2).
CREATE TABLE review_outcomes (
    meeting_date  date        NOT NULL,
    lcs_person_id text        NOT NULL,
    outcome       text        NOT NULL,
    refer_to_vpg  boolean     NOT NULL,
    recorded_at   timestamptz NOT NULL,
    PRIMARY KEY (meeting_date, lcs_person_id)
);
CREATE INDEX review_outcomes_by_child ON review_outcomes (lcs_person_id, meeting_date DESC);
CREATE INDEX review_outcomes_referred ON review_outcomes (recorded_at) WHERE refer_to_vpg;

-- R5.5: the actions of the minutes; open ones of active VEMT cases are
-- listed on M3's agenda.
CREATE TABLE actions (
    action_id     text        PRIMARY KEY,
    lcs_person_id text        NOT NULL,
    meeting_date  date        NOT NULL,
    description   text        NOT NULL,
    owner_role    text        NOT NULL,
    due_date      date,
    status        text        NOT NULL CHECK (status IN ('open', 'done', 'cancelled')),
    updated_at    timestamptz NOT NULL
);
CREATE INDEX actions_open_by_child ON actions (lcs_person_id) WHERE status = 'open';
