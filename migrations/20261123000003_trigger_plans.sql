-- Trigger plans the police send (issue 3, R4.2): the newest version of each
-- plan. The free-text summary is not kept (R7.2); the document stays with
-- the police and is passed on by reference (its URL).
CREATE TABLE trigger_plans (
    plan_id              text PRIMARY KEY,
    police_person_id     text        NOT NULL,
    -- A newer version replaces the row; an equal or older one is ignored.
    version              integer     NOT NULL CHECK (version >= 1),
    issued_at            timestamptz NOT NULL,
    url                  text        NOT NULL,
    -- NULL when the police did not say (filed as application/pdf).
    media_type           text,
    -- When the service received this version: the case note's date.
    received_at          timestamptz NOT NULL,
    -- The version whose document, case note, e-mail and alert have been
    -- produced; behind `version` (or NULL) while the police person is not
    -- yet linked to a child whose LCS record is held.
    effects_sent_version integer
);
CREATE INDEX trigger_plans_person ON trigger_plans (police_person_id);
