-- Rollback of pg-boss schema 37 -> 36: job_table_format() as 36 had it, rewriting every `.job`
-- and `job_i` it finds.
CREATE OR REPLACE FUNCTION {{schema}}.job_table_format(command text, table_name text)
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
