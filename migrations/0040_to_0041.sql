-- pg-boss schema 40 -> 41 (pg-boss 12.31), partitioned layout.

-- Which format `cron` holds. Every existing row is a cron expression unless it reads as an
-- RFC 5545 rule, which the UPDATE below relabels: the default alone would mislabel the rules of a
-- table that was rolled back to 40 (dropping the column) and upgraded again. The patterns are
-- the ones pg-boss's rule detection uses: FREQ= at the start, after whitespace or after `;`, or a
-- DTSTART / RRULE / RDATE / EXDATE property. No cron field can contain `=`, `:` or `;`.
ALTER TABLE {{schema}}.schedule
  ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'cron'
    CONSTRAINT schedule_kind_check CHECK (kind IN ('cron', 'rrule'));

UPDATE {{schema}}.schedule
SET kind = 'rrule'
WHERE kind = 'cron'
  AND (cron ~* '(^|[[:space:]]|;)FREQ='
       OR cron ~* '(^|[[:space:]])(DTSTART|RRULE|RDATE|EXDATE)[;:]');

-- A schedule without a zone fires in UTC, as schedule() and the docs always said; the default
-- keeps a row written by hand from leaving it out again.
UPDATE {{schema}}.schedule SET timezone = 'UTC' WHERE timezone IS NULL;
ALTER TABLE {{schema}}.schedule ALTER COLUMN timezone SET DEFAULT 'UTC';

-- The job a schedule last produced. No foreign key: retention deletes jobs.
ALTER TABLE {{schema}}.schedule ADD COLUMN IF NOT EXISTS last_job_id uuid;
