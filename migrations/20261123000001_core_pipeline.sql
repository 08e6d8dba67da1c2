-- Core pipeline (issue 2): inbox, children and their police identities,
-- episodes, return home interviews, agenda items and the outbox.
-- Only what the process needs is kept (R7.2): no addresses, no GP details,
-- no free text from return home interviews.

-- Dedupe on (source, id) (CONTRACT.md): a redelivered event is a no-op.
CREATE TABLE inbox (
    source      text        NOT NULL,
    event_id    text        NOT NULL,
    event_type  text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, event_id)
);

-- A child as the service knows them. `lcs_person_id` is null while the only
-- thing known is a police person that no LCS record links yet (R7.1).
CREATE TABLE children (
    child_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lcs_person_id   text UNIQUE,
    -- The newest lcs.child.v1 as the domain keeps it.
    record          jsonb,
    record_revision integer,
    vemt_active     boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE police_persons (
    police_person_id  text PRIMARY KEY,
    child_id          bigint      NOT NULL REFERENCES children (child_id),
    -- Operations have been told this person is unmatched (once).
    unmatched_alerted boolean     NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX police_persons_child ON police_persons (child_id);

-- The newest revision of each police episode.
CREATE TABLE episodes (
    episode_id          text PRIMARY KEY,
    police_person_id    text        NOT NULL,
    revision            integer     NOT NULL CHECK (revision >= 1),
    status              text        NOT NULL CHECK (status IN ('open', 'returned', 'cancelled')),
    risk_level          text        NOT NULL CHECK (risk_level IN ('high', 'medium', 'low', 'no_apparent_risk')),
    -- Any revision received was graded high (R1.1).
    ever_high           boolean     NOT NULL,
    reported_missing_at timestamptz NOT NULL,
    returned_at         timestamptz,
    -- When the service last applied a change: "updated since the last review" (R2.1).
    changed_at          timestamptz NOT NULL,
    -- The newest revision's person and details, for agendas and requests.
    report              jsonb       NOT NULL
);
CREATE INDEX episodes_person ON episodes (police_person_id);
CREATE INDEX episodes_live ON episodes (police_person_id) WHERE status = 'open';

CREATE TABLE return_home_interviews (
    rhi_id        text PRIMARY KEY,
    episode_id    text        NOT NULL,
    lcs_person_id text,
    status        text        NOT NULL CHECK (status IN ('offered', 'completed', 'declined', 'not_offered')),
    offered_at    timestamptz,
    completed_at  timestamptz,
    -- The event's time: the latest state of an interview wins by it.
    stated_at     timestamptz NOT NULL
);
CREATE INDEX return_home_interviews_episode ON return_home_interviews (episode_id);

-- A child's item on one Wednesday meeting's agenda (R2.1): one per child per
-- meeting. An item whose criteria have all been withdrawn (the police
-- cancelled the episodes) stays, empty, so its trigger-plan request is not
-- sent twice if the child is queued again.
CREATE TABLE agenda_items (
    meeting_date           date        NOT NULL,
    child_id               bigint      NOT NULL REFERENCES children (child_id),
    meeting_at             timestamptz NOT NULL,
    collation_at           timestamptz NOT NULL,
    -- {criterion: [episode ids]}
    assessment             jsonb       NOT NULL,
    trigger_plan_requested boolean     NOT NULL DEFAULT false,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meeting_date, child_id)
);
CREATE INDEX agenda_items_child ON agenda_items (child_id, meeting_at);

-- Effects, written in the same transaction as the state that caused them and
-- published by the relay with publisher confirms.
CREATE TABLE outbox (
    event_id        uuid PRIMARY KEY,
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    event_type      text        NOT NULL,
    body            jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at, seq) WHERE published_at IS NULL;

-- Wakes the relay at once; it also polls, in case a notification is missed.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('vemt_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
