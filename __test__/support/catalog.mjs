// A schema's catalog as comparable text, for tests that hold our schema against one pg-boss made.

/**
 * Every column (not its position), relation, index (and whether it is valid), constraint and
 * function of `schema`, sorted, with the schema's name replaced by `S` so twins compare equal.
 */
export async function catalog (db, schema) {
  const { rows } = await db.query(`
    SELECT 'column ' || table_name || '.' || column_name || ' ' || udt_name || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS item
      FROM information_schema.columns WHERE table_schema = $1
    UNION ALL
    SELECT 'relation ' || relname || ' ' || relkind::text FROM pg_class WHERE relnamespace = $1::regnamespace
    UNION ALL
    SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = $1
    UNION ALL
    SELECT 'valid ' || c.relname || ' ' || i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE c.relnamespace = $1::regnamespace
    UNION ALL
    SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
      FROM pg_constraint WHERE connamespace = $1::regnamespace
    UNION ALL
    SELECT 'function ' || regexp_replace(pg_get_functiondef(p.oid), '\\s+', '', 'g')
      FROM pg_proc p WHERE pronamespace = $1::regnamespace
    ORDER BY 1`, [schema])
  return rows.map(r => r.item.replaceAll(schema, 'S'))
}
