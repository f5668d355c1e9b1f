//! Catalog reads for `detectSchemaDrift()`: one JSON document per statement. All but the
//! queue and bam reads touch only pg_catalog, so they work on a schema however damaged; the
//! texts are Postgres's canonical renderings (`pg_get_indexdef`, `format_type`, `pg_get_expr`,
//! `pg_get_constraintdef`, `pg_get_functiondef`), the same functions the expected shape was read
//! with (scripts/drift-manifest.mjs), so equal objects give equal text.

use crate::names::SchemaName;
use crate::plans::literal;

/// `{ "partitioned": bool }`: job_common present means the partitioned layout.
pub fn layout(s: &SchemaName) -> String {
    format!(
        "SELECT json_build_object('partitioned', to_regclass({}) IS NOT NULL)::text",
        literal(&format!("{}.job_common", s.ident))
    )
}

/// `[{ table, policy }]`: the queues with a table of their own.
pub fn partitions(s: &SchemaName) -> String {
    format!(
        "SELECT COALESCE(json_agg(json_build_object('table', table_name, 'policy', policy)), '[]')::text
  FROM {}.queue WHERE partition = true",
        s.ident
    )
}

/// `{ indexes, tables, columns, constraints, states }` of every table in the schema
/// (partitions included: relkind r and p).
pub fn catalog(s: &SchemaName) -> String {
    let nsp = s.resolved_literal();
    format!(
        "WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = {nsp})
SELECT json_build_object(
  'indexes', (SELECT COALESCE(json_agg(json_build_object(
      'name', c.relname, 'table', t.relname, 'valid', i.indisvalid, 'def', pg_get_indexdef(i.indexrelid),
      'constraintBacked', EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid))), '[]')
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid
    WHERE c.relnamespace = (SELECT oid FROM ns)),
  'tables', (SELECT COALESCE(json_agg(c.relname), '[]')
    FROM pg_class c
    WHERE c.relnamespace = (SELECT oid FROM ns) AND c.relkind IN ('r', 'p')),
  'columns', (SELECT COALESCE(json_agg(json_build_object(
      'table', c.relname, 'column', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
      'notNull', a.attnotnull, 'default', pg_get_expr(d.adbin, d.adrelid))), '[]')
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE c.relnamespace = (SELECT oid FROM ns) AND c.relkind IN ('r', 'p')
      AND a.attnum > 0 AND NOT a.attisdropped),
  'constraints', (SELECT COALESCE(json_agg(json_build_object(
      'table', c.relname, 'def', pg_get_constraintdef(con.oid))), '[]')
    FROM pg_constraint con
    JOIN pg_class c ON c.oid = con.conrelid
    WHERE c.relnamespace = (SELECT oid FROM ns) AND con.contype <> 'n'),
  'states', (SELECT COALESCE(json_agg(e.enumlabel ORDER BY e.enumsortorder), '[]')
    FROM pg_enum e
    JOIN pg_type t ON t.oid = e.enumtypid
    WHERE t.typnamespace = (SELECT oid FROM ns) AND t.typname = 'job_state')
)::text"
    )
}

/// `[{ name, def }]`, every function in the schema. Separate from `catalog` because
/// `pg_get_functiondef` refuses some objects (an aggregate someone added): then the function
/// check is skipped, as pg-boss skips it, rather than the whole scan failing.
pub fn functions(s: &SchemaName) -> String {
    format!(
        "SELECT COALESCE(json_agg(json_build_object('name', p.proname, 'def', pg_get_functiondef(p.oid))), '[]')::text
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname = {}",
        s.resolved_literal()
    )
}

/// `[command]` of every async index build not yet completed (pending, in progress or failed).
pub fn incomplete_builds(s: &SchemaName) -> String {
    format!(
        "SELECT COALESCE(json_agg(command), '[]')::text FROM {}.bam WHERE status <> 'completed'",
        s.ident
    )
}
