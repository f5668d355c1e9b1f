-- Rollback of pg-boss schema 42 -> 41, partitioned layout. create_queue first, since its 42 body
-- reads job_now().

{{create_queue_41}}

DROP FUNCTION {{schema}}.job_now();
