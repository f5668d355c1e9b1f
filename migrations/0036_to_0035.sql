-- Rollback of pg-boss schema 36 -> 35: nothing to undo. The bam.created_on default stays, as
-- pg-boss's rollback leaves it; it is what 35 gets from a fresh install too.
SELECT 1;
