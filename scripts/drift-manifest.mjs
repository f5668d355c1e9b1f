// Regenerates src/drift/schema46.json and src/drift/schema46_flat.json, the shapes
// detectSchemaDrift() expects of each layout: our own install run into a scratch schema and read
// back from the catalog the way the engine reads a live schema (src/plans/drift.rs), with the
// schema name replaced by a token. The partitioned layout is migrations/0046_install.sql; the
// non-partitioned one (noTablePartitioning) is what the built addon installs for it,
// getConstructionPlans(schema, { backend: 'yugabytedb' }): that profile keeps PostgreSQL's
// deferrable keys and covering indexes, as pg-boss's own manifest of the layout does.
// Rows are sorted by table and name (constraints by definition), so the report lists what is
// missing in that order.
//
//   node scripts/drift-manifest.mjs            rewrite the file
//   node scripts/drift-manifest.mjs --check    exit 1 when the file differs from a fresh install
//
// Run it after any change to the install SQL (and `npm run build`, for the flat layout). Needs
// DATABASE_URL (or PG* variables) and CREATE on the database; the scratch schemas are dropped again.
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { userInfo } from 'node:os'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const pg = require('pg')
const root = new URL('..', import.meta.url)
const targets = {
  partitioned: fileURLToPath(new URL('src/drift/schema46.json', root)),
  flat: fileURLToPath(new URL('src/drift/schema46_flat.json', root))
}
const TOKEN = '{{schema}}'

process.env.PGUSER ||= process.env.USER || userInfo().username

/** The managed tables: everything the install creates except queue_stats' daily partitions. */
const TABLES = `
  SELECT c.oid, c.relname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
    AND NOT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                    WHERE i.inhrelid = c.oid AND p.relname = 'queue_stats')`

export async function capture (client, schema, source = 'migrations/0046_install.sql') {
  const q = async (text) => (await client.query(text, [schema])).rows
  const tables = (await q(`${TABLES} ORDER BY c.relname`)).map(r => r.relname)
  const columns = await q(`
    SELECT t.relname AS "table", a.attname AS "column", format_type(a.atttypid, a.atttypmod) AS "type",
           a.attnotnull AS "notNull", pg_get_expr(d.adbin, d.adrelid) AS "default"
    FROM (${TABLES}) t
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    ORDER BY t.relname, a.attname`)
  const constraints = await q(`
    SELECT t.relname AS "table", pg_get_constraintdef(con.oid) AS def
    FROM (${TABLES}) t JOIN pg_constraint con ON con.conrelid = t.oid AND con.contype <> 'n'
    ORDER BY t.relname, pg_get_constraintdef(con.oid) COLLATE "C"`)
  const indexes = await q(`
    SELECT c.relname AS name, t.relname AS "table", pg_get_indexdef(i.indexrelid) AS def
    FROM (${TABLES}) t JOIN pg_index i ON i.indrelid = t.oid JOIN pg_class c ON c.oid = i.indexrelid
    WHERE NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)
    ORDER BY c.relname`)
  const functions = await q(`
    SELECT p.proname AS name, pg_get_functiondef(p.oid) AS def
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = $1 ORDER BY p.proname`)
  const states = await q(`
    SELECT e.enumlabel AS label FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
    JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = $1 AND t.typname = 'job_state' ORDER BY e.enumsortorder`)
  const tokenize = value => typeof value === 'string' ? value.split(schema).join(TOKEN) : value
  const tokenized = rows => rows.map(row => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, tokenize(v)])))
  return {
    _generated: `by scripts/drift-manifest.mjs from ${source}; do not edit`,
    version: 46,
    schemaToken: TOKEN,
    tables,
    columns: tokenized(columns),
    constraints: tokenized(constraints),
    indexes: tokenized(indexes),
    functions: tokenized(functions),
    enum: states.map(r => r.label)
  }
}

/** The install script of `layout` for `schema`. */
export function installSql (layout, schema) {
  if (layout === 'flat') {
    const { getConstructionPlans } = require('../index.js')
    return getConstructionPlans(schema, { backend: 'yugabytedb' })
  }
  return readFileSync(new URL('migrations/0046_install.sql', root), 'utf8').split(TOKEN).join(schema)
}

const SOURCES = {
  partitioned: 'migrations/0046_install.sql',
  flat: 'migrations/0046_install.sql + 0046_install_flat.sql'
}

async function main () {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL || 'postgres://localhost:5432' })
  await client.connect()
  let stale = false
  try {
    for (const [layout, target] of Object.entries(targets)) {
      const schema = `drift_manifest_${layout}_${process.pid}`
      let manifest
      try {
        await client.query(installSql(layout, schema))
        manifest = await capture(client, schema, SOURCES[layout])
      } finally {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      }
      const text = JSON.stringify(manifest, null, 2) + '\n'
      if (process.argv.includes('--check')) {
        const current = readFileSync(target, 'utf8')
        if (current !== text) {
          console.error(`${target} is stale: run node scripts/drift-manifest.mjs`)
          stale = true
        } else {
          console.log(`${target} matches a fresh install`)
        }
      } else {
        writeFileSync(target, text)
        console.log(`wrote ${target}`)
      }
    }
  } finally {
    await client.end()
  }
  if (stale) process.exit(1)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main()
