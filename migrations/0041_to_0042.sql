-- pg-boss schema 41 -> 42 (pg-boss 12.33), partitioned layout.

-- The one clock every statement reads from 42 on (a TestClock swaps its body at runtime).
{{job_now}}

-- create_queue stamps a new queue's created_on / updated_on with that clock.
{{create_queue_42}}
