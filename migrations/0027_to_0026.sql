-- Rollback of pg-boss schema 27 -> 26, partitioned layout.

ALTER INDEX {{schema}}.job_common_i6 RENAME TO job_i6;
ALTER INDEX {{schema}}.job_common_i5 RENAME TO job_i5;
ALTER INDEX {{schema}}.job_common_i4 RENAME TO job_i4;
ALTER INDEX {{schema}}.job_common_i3 RENAME TO job_i3;
ALTER INDEX {{schema}}.job_common_i2 RENAME TO job_i2;
ALTER INDEX {{schema}}.job_common_i1 RENAME TO job_i1;

SELECT {{schema}}.job_table_run($cmd$DROP INDEX IF EXISTS {{schema}}.job_i7$cmd$);

-- create_queue as 26 had it: a partition's DDL spelled with format(), no group index.
{{create_queue_26}}

DROP FUNCTION {{schema}}.job_table_run(text, text, text);
DROP FUNCTION {{schema}}.job_table_run_async(text, integer, text, text, text);
DROP FUNCTION {{schema}}.job_table_format(text, text);
DROP TABLE {{schema}}.bam;
ALTER TABLE {{schema}}.version DROP COLUMN bam_on;
ALTER TABLE {{schema}}.job
  DROP COLUMN group_tier,
  DROP COLUMN group_id;
