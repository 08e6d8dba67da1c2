-- Meetings cancelled or moved by an operations command (R2.4). Changes in
-- configuration are not copied here: the service merges both.
CREATE TABLE meeting_changes (
    -- The regular meeting date that will not sit on its day.
    meeting_date date PRIMARY KEY,
    -- NULL: cancelled; else the date it sits instead.
    moved_to     date,
    changed_at   timestamptz NOT NULL DEFAULT now()
);
