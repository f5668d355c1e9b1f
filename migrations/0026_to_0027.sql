-- pg-boss schema 26 -> 27 (pg-boss 12.6 / 12.8), partitioned layout.

-- Asynchronous index builds ("BAM"): the runner's claim, and the queue of commands it runs
-- outside any transaction. (36 moves created_on's default to clock_timestamp().)
ALTER TABLE {{schema}}.version ADD COLUMN IF NOT EXISTS bam_on timestamptz;

CREATE TABLE IF NOT EXISTS {{schema}}.bam (
  id           uuid        NOT NULL DEFAULT gen_random_uuid(),
  name         text        NOT NULL,
  version      integer     NOT NULL,
  status       text        NOT NULL DEFAULT 'pending',
  queue        text,
  table_name   text        NOT NULL,
  command      text        NOT NULL,
  error        text,
  created_on   timestamptz NOT NULL DEFAULT now(),
  started_on   timestamptz,
  completed_on timestamptz,
  CONSTRAINT bam_pkey PRIMARY KEY (id)
);

-- The helpers that aim a job-table command at one table or all of them, now or through bam.
-- job_table_format() as 27 had it (37 anchors its rewrites).
CREATE FUNCTION {{schema}}.job_table_format(command text, table_name text)
  RETURNS text
  LANGUAGE sql
  IMMUTABLE
AS $body$
  SELECT format(
    replace(
      replace(command, '.job', '.%1$I'),
      'job_i', '%1$s_i'
    ),
    table_name
  );
$body$;

{{job_table_run_async}}

{{job_table_run}}

-- Group concurrency: the group a job belongs to and its tier.
ALTER TABLE {{schema}}.job
  ADD COLUMN IF NOT EXISTS group_id text,
  ADD COLUMN IF NOT EXISTS group_tier text;

-- create_queue builds a partition's indexes through job_table_format(), and adds the group index
-- (job_i7); the existing tables get it from the build queued after this script.
{{create_queue_27}}

-- job_common's indexes take the names job_table_format() gives them.
ALTER INDEX IF EXISTS {{schema}}.job_i1 RENAME TO job_common_i1;
ALTER INDEX IF EXISTS {{schema}}.job_i2 RENAME TO job_common_i2;
ALTER INDEX IF EXISTS {{schema}}.job_i3 RENAME TO job_common_i3;
ALTER INDEX IF EXISTS {{schema}}.job_i4 RENAME TO job_common_i4;
ALTER INDEX IF EXISTS {{schema}}.job_i5 RENAME TO job_common_i5;
ALTER INDEX IF EXISTS {{schema}}.job_i6 RENAME TO job_common_i6;
ALTER INDEX IF EXISTS {{schema}}.job_i7 RENAME TO job_common_i7;
