#!/usr/bin/env node
// Verifies migrations/0046_install.sql against pg-boss 12.38 itself.
//
//   node scripts/check-schema-drift.mjs [schema] [--keep]
//
// 1. Installs our SQL into a scratch schema the way the engine does (one transaction, lock_timeout,
//    advisory lock), and asks pg-boss's own detectSchemaDrift() about it: fresh, then again after
//    pg-boss has created partitioned queues (standard policy and key_strict_fifo) through our
//    create_queue(). Also installs once more with the `-- create-schema` statement stripped into a
//    pre-created schema (the createSchema: false path).
// 2. Lets pg-boss install a reference schema (migrate: true) and diffs the two catalogs
//    (relations, columns, constraints, indexes, functions, enum, triggers, version row), both fresh
//    and after the same queues were created on each side.
//
// Exit code 0 only when every drift report has ok === true and the catalogs match.
//
// Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test),
//              PGBOSS_NODE_MODULES to force the node_modules holding pg and pg-boss.

import { createRequire } from 'node:module'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = resolve(here, '..')
const installSqlPath = join(repoRoot, 'migrations', '0046_install.sql')

// ---------------------------------------------------------------------------------------------
// Dependencies: the repo's node_modules when present, else the reading copy in /tmp/pgb.
// ---------------------------------------------------------------------------------------------

function resolveNodeModules () {
  const candidates = [
    process.env.PGBOSS_NODE_MODULES,
    join(repoRoot, 'node_modules'),
    '/tmp/pgb/node_modules'
  ].filter(Boolean)
  for (const dir of candidates) {
    if (existsSync(join(dir, 'pg-boss', 'package.json')) && existsSync(join(dir, 'pg', 'package.json'))) {
      return dir
    }
  }
  throw new Error(`pg and pg-boss not found in any of: ${candidates.join(', ')}`)
}

const nodeModules = resolveNodeModules()
const requireFromModules = createRequire(join(nodeModules, 'noop.js'))
const pg = requireFromModules('pg')
const pgBossPkg = JSON.parse(readFileSync(join(nodeModules, 'pg-boss', 'package.json'), 'utf8'))
const pgBossModule = await import(pathToFileURL(join(nodeModules, 'pg-boss', pgBossPkg.main || 'dist/index.js')).href)
const PgBoss = pgBossModule.PgBoss ?? pgBossModule.default

// ---------------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------------

const args = process.argv.slice(2)
const keep = args.includes('--keep')
const schema = args.find(a => !a.startsWith('--')) ?? 'drift_check'
const connectionString = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

// Kept to bare lower-case identifiers so the same text works unquoted in SQL and in pg-boss config.
if (!/^[a-z_][a-z0-9_]{0,40}$/.test(schema)) {
  console.error(`schema name must be a bare lower-case identifier, got ${JSON.stringify(schema)}`)
  process.exit(2)
}

const refSchema = `${schema}_ref`
const noCreateSchema = `${schema}_nocreate`
const PLACEHOLDER = '{{schema}}'

const failures = []
const fail = (msg) => { failures.push(msg); console.log(`  FAIL ${msg}`) }

// ---------------------------------------------------------------------------------------------
// Install helpers
// ---------------------------------------------------------------------------------------------

const installTemplate = readFileSync(installSqlPath, 'utf8')

function renderInstall (target, { createSchema = true } = {}) {
  let text = installTemplate
  if (!createSchema) {
    // Same rule the engine applies: the statement directly under `-- create-schema` goes.
    const marker = /^--\s*create-schema\s*\n[^\n]*;[ \t]*$/m
    if (!marker.test(text)) throw new Error('no `-- create-schema` marked statement found')
    text = text.replace(marker, '-- create-schema (dropped)')
  }
  return text.split(PLACEHOLDER).join(target)
}

async function withClient (fn) {
  const client = new pg.Client({ connectionString })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

async function dropSchemas (client, ...names) {
  for (const name of names) {
    await client.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`)
  }
}

// Mirrors the engine's wrapper: one transaction, bounded lock wait, schema-scoped advisory lock.
async function installOurs (client, target, opts) {
  const sql = renderInstall(target, opts)
  await client.query('BEGIN')
  try {
    await client.query("SET LOCAL lock_timeout = '30s'")
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`pgboss-native.${target}`])
    await client.query(sql) // simple protocol: the whole multi-statement script in one round trip
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  }
}

// ---------------------------------------------------------------------------------------------
// pg-boss drift report
// ---------------------------------------------------------------------------------------------

function newBoss (target, migrate) {
  const boss = new PgBoss({ connectionString, schema: target, migrate, supervise: false, schedule: false })
  boss.on('error', err => console.error(`  [pg-boss ${target}] error:`, err?.message ?? err))
  return boss
}

function printReport (label, report) {
  console.log(`\n== detectSchemaDrift: ${label} -> ok=${report.ok}`)
  const keys = ['missingTables', 'missing', 'building', 'invalid', 'mismatched', 'missingFunctions',
    'mismatchedFunctions', 'columnDrift', 'constraintDrift', 'extraIndexes']
  for (const key of keys) {
    const value = report[key]
    if (Array.isArray(value) && value.length) {
      console.log(`  ${key} (${value.length}):`)
      for (const item of value) {
        if (key === 'mismatchedFunctions') {
          // the full bodies are long; show where they part
          const x = item.actualBody ?? ''
          const y = item.expectedBody ?? ''
          let i = 0
          while (i < x.length && x[i] === y[i]) i++
          console.log(`    ${item.name}: body diverges at char ${i}`)
          console.log(`      actual:   …${x.slice(Math.max(0, i - 60), i + 80)}`)
          console.log(`      expected: …${y.slice(Math.max(0, i - 60), i + 80)}`)
        } else {
          console.log(`    ${JSON.stringify(item)}`)
        }
      }
    }
  }
  if (report.enumDrift) console.log(`  enumDrift: ${JSON.stringify(report.enumDrift)}`)
  if (!report.ok) fail(`detectSchemaDrift not ok: ${label}`)
  else if (report.extraIndexes?.length) console.log('  (extraIndexes are warnings only)')
}

async function driftCheck (boss, label) {
  const report = await boss.detectSchemaDrift()
  printReport(label, report)
  return report
}

// The queues both sides get, so create_queue() itself is compared too.
const QUEUES = [
  ['pq', { partition: true }],
  ['kq', { policy: 'key_strict_fifo', partition: true }],
  ['sq', { policy: 'stately', partition: true }],
  ['shared', {}]
]

async function createQueues (boss) {
  for (const [name, options] of QUEUES) await boss.createQueue(name, options)
}

// ---------------------------------------------------------------------------------------------
// Catalog dump + diff
// ---------------------------------------------------------------------------------------------

// Every query takes the schema name as $1 and returns rows whose `key` identifies the object and
// whose `val` is what must be equal. The schema name is replaced with the placeholder afterwards.
const CATALOG_QUERIES = {
  relations: `
    SELECT c.relname AS key,
           concat_ws(' | ', c.relkind, c.relpersistence, pg_get_partkeydef(c.oid),
                     p.relname, pg_get_expr(c.relpartbound, c.oid), c.relhasindex, c.relrowsecurity) AS val
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
    LEFT JOIN pg_class p ON p.oid = i.inhparent
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')`,
  columns: `
    SELECT col.table_name || '.' || col.column_name AS key,
           concat_ws(' | ', col.ordinal_position, col.data_type, col.udt_schema || '.' || col.udt_name,
                     col.is_nullable, coalesce(col.column_default, '<no default>'),
                     col.character_maximum_length, col.numeric_precision, col.datetime_precision,
                     col.is_identity, col.is_generated, format_type(a.atttypid, a.atttypmod),
                     'local=' || a.attislocal, 'inh=' || a.attinhcount, a.attstorage, a.attcompression) AS val
    FROM information_schema.columns col
    JOIN pg_namespace n ON n.nspname = col.table_schema
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = col.table_name
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = col.column_name
    WHERE col.table_schema = $1`,
  constraints: `
    SELECT rel.relname || '.' || con.conname AS key,
           concat_ws(' | ', con.contype, pg_get_constraintdef(con.oid), con.condeferrable, con.condeferred,
                     con.convalidated, 'local=' || con.conislocal, 'inh=' || con.coninhcount,
                     parent.conname, idx.relname) AS val
    FROM pg_constraint con
    JOIN pg_class rel ON rel.oid = con.conrelid
    JOIN pg_namespace n ON n.oid = rel.relnamespace
    LEFT JOIN pg_constraint parent ON parent.oid = con.conparentid
    LEFT JOIN pg_class idx ON idx.oid = con.conindid
    WHERE n.nspname = $1`,
  indexes: `
    SELECT c.relname AS key,
           concat_ws(' | ', t.relname, pg_get_indexdef(i.indexrelid), i.indisunique, i.indisprimary,
                     i.indisvalid, i.indisready, i.indimmediate, parent.relname) AS val
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_inherits inh ON inh.inhrelid = c.oid
    LEFT JOIN pg_class parent ON parent.oid = inh.inhparent
    WHERE n.nspname = $1`,
  functions: `
    SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS key,
           pg_get_functiondef(p.oid) AS val
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = $1`,
  function_attrs: `
    SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS key,
           concat_ws(' | ', l.lanname, p.provolatile, p.proparallel, p.prosecdef, p.proleakproof,
                     p.proisstrict, p.prokind, p.procost, p.prorows, p.proconfig::text,
                     pg_get_function_result(p.oid), pg_get_function_arguments(p.oid)) AS val
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    JOIN pg_language l ON l.oid = p.prolang
    WHERE n.nspname = $1`,
  types: `
    SELECT t.typname AS key,
           concat_ws(' | ', t.typtype,
                     (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)) AS val
    FROM pg_type t
    JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = $1 AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0`,
  // FK triggers are internal and carry OIDs in their names, so compare them by what they do.
  triggers: `
    SELECT c.relname || ' / ' || coalesce(con.conname, tg.tgname) || ' / ' || f.proname || ' / ' || tg.tgtype AS key,
           concat_ws(' | ', tg.tgenabled, tg.tgisinternal, tg.tgdeferrable, tg.tginitdeferred, count(*) OVER (PARTITION BY c.relname, con.conname, f.proname, tg.tgtype)) AS val
    FROM pg_trigger tg
    JOIN pg_class c ON c.oid = tg.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_proc f ON f.oid = tg.tgfoid
    LEFT JOIN pg_constraint con ON con.oid = tg.tgconstraint
    WHERE n.nspname = $1`
}

async function dumpCatalog (client, target) {
  const dump = {}
  const unschema = (text) => text == null ? text : String(text).split(`${target}.`).join(`${PLACEHOLDER}.`)
  for (const [section, sql] of Object.entries(CATALOG_QUERIES)) {
    const { rows } = await client.query(sql, [target])
    const map = new Map()
    for (const row of rows) map.set(unschema(row.key), unschema(row.val))
    dump[section] = map
  }
  const version = await client.query(`SELECT version FROM ${target}.version ORDER BY version`)
  dump.version_rows = new Map([['version', version.rows.map(r => r.version).join(',')]])
  const queues = await client.query(`SELECT name, policy, partition, table_name, retry_limit, retry_delay, retry_backoff,
      expire_seconds, retention_seconds, deletion_seconds, warning_queued, notify FROM ${target}.queue ORDER BY name`)
  dump.queue_rows = new Map(queues.rows.map(r => [r.name, JSON.stringify(r)]))
  return dump
}

// Function definitions: the header (everything outside the body) must match exactly; the body must
// match once whitespace is collapsed (the same rule drifter.normalizeFunctionBody uses). A body that
// differs only in layout is reported as a note, not a failure: the layout is ours on purpose.
function splitFunctionDef (def) {
  const open = def.match(/\$[A-Za-z0-9_]*\$/)
  if (!open) return { header: def, body: '', footer: '' }
  const start = open.index + open[0].length
  const end = def.indexOf(open[0], start)
  return { header: def.slice(0, open.index), body: def.slice(start, end), footer: def.slice(end + open[0].length) }
}
const collapse = (s) => s.replace(/\s+/g, ' ').trim()

function diffCatalogs (label, ours, theirs) {
  console.log(`\n== catalog diff: ${label}`)
  let differences = 0
  let layoutOnly = 0
  for (const section of Object.keys(theirs)) {
    const a = ours[section]
    const b = theirs[section]
    const keys = [...new Set([...a.keys(), ...b.keys()])].sort()
    for (const key of keys) {
      if (!a.has(key)) { differences++; console.log(`  [${section}] only in pg-boss: ${key} = ${b.get(key)}`); continue }
      if (!b.has(key)) { differences++; console.log(`  [${section}] only in ours:    ${key} = ${a.get(key)}`); continue }
      const va = a.get(key)
      const vb = b.get(key)
      if (va === vb) continue
      if (section === 'functions') {
        const fa = splitFunctionDef(va)
        const fb = splitFunctionDef(vb)
        if (fa.header === fb.header && fa.footer === fb.footer && collapse(fa.body) === collapse(fb.body)) {
          layoutOnly++
          continue
        }
        differences++
        console.log(`  [functions] ${key} differs:`)
        if (fa.header !== fb.header || fa.footer !== fb.footer) {
          console.log(`    ours header:    ${JSON.stringify(fa.header + ' … ' + fa.footer)}`)
          console.log(`    pg-boss header: ${JSON.stringify(fb.header + ' … ' + fb.footer)}`)
        }
        if (collapse(fa.body) !== collapse(fb.body)) {
          const x = collapse(fa.body)
          const y = collapse(fb.body)
          let i = 0
          while (i < x.length && x[i] === y[i]) i++
          console.log(`    body diverges at char ${i}:`)
          console.log(`      ours:    …${x.slice(Math.max(0, i - 60), i + 80)}`)
          console.log(`      pg-boss: …${y.slice(Math.max(0, i - 60), i + 80)}`)
        }
        continue
      }
      differences++
      console.log(`  [${section}] ${key} differs:\n    ours:    ${va}\n    pg-boss: ${vb}`)
    }
  }
  const counts = Object.entries(theirs).map(([s, m]) => `${s}=${m.size}`).join(' ')
  console.log(`  compared: ${counts}`)
  if (layoutOnly) console.log(`  note: ${layoutOnly} function bodies differ from pg-boss only in whitespace/layout (tokens identical)`)
  if (differences) fail(`catalog differs from pg-boss (${label}): ${differences} difference(s)`)
  else console.log('  no differences')
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function main () {
  console.log(`pg-boss ${pgBossPkg.version} (schema v${pgBossPkg.pgboss?.schema}) from ${nodeModules}`)
  console.log(`database ${connectionString.replace(/:[^:@/]*@/, ':***@')}, schemas ${schema} / ${refSchema} / ${noCreateSchema}`)
  if (pgBossPkg.pgboss?.schema !== 46) fail(`expected pg-boss schema version 46, found ${pgBossPkg.pgboss?.schema}`)

  await withClient(c => dropSchemas(c, schema, refSchema, noCreateSchema))

  const bosses = []
  try {
    // -- ours: install + drift ------------------------------------------------------------------
    await withClient(c => installOurs(c, schema))
    console.log(`\ninstalled migrations/0046_install.sql into ${schema}`)

    const ours = newBoss(schema, false) // migrate: false -> start() asserts version 46 is current
    bosses.push(ours)
    await ours.start()
    await driftCheck(ours, `${schema} fresh install`)
    const oursFresh = await withClient(c => dumpCatalog(c, schema))

    // -- createSchema: false path -----------------------------------------------------------------
    await withClient(async c => {
      await c.query(`CREATE SCHEMA ${noCreateSchema}`)
      await installOurs(c, noCreateSchema, { createSchema: false })
    })
    const noCreate = newBoss(noCreateSchema, false)
    bosses.push(noCreate)
    await noCreate.start()
    await driftCheck(noCreate, `${noCreateSchema} (createSchema: false, schema pre-created)`)
    await noCreate.stop({ graceful: false })

    // -- pg-boss reference install ------------------------------------------------------------------
    const ref = newBoss(refSchema, true)
    bosses.push(ref)
    await ref.start()
    await driftCheck(ref, `${refSchema} installed by pg-boss itself (control)`)
    const refFresh = await withClient(c => dumpCatalog(c, refSchema))

    diffCatalogs('fresh install', oursFresh, refFresh)

    // -- same queues on both sides -------------------------------------------------------------------
    await createQueues(ours)
    await createQueues(ref)
    console.log(`\ncreated queues ${QUEUES.map(([n, o]) => `${n}${JSON.stringify(o)}`).join(', ')} on both schemas`)
    await driftCheck(ours, `${schema} after partitioned queues (incl. key_strict_fifo)`)
    await driftCheck(ref, `${refSchema} after partitioned queues (control)`)

    const oursQueued = await withClient(c => dumpCatalog(c, schema))
    const refQueued = await withClient(c => dumpCatalog(c, refSchema))
    diffCatalogs('after createQueue', oursQueued, refQueued)

    // -- round trip through delete_queue -------------------------------------------------------------
    await ours.deleteQueue('pq')
    await ref.deleteQueue('pq')
    await driftCheck(ours, `${schema} after deleteQueue('pq')`)
  } finally {
    for (const boss of bosses) await boss.stop({ graceful: false }).catch(() => {})
    if (!keep) await withClient(c => dropSchemas(c, schema, refSchema, noCreateSchema))
    else console.log(`\n--keep: left schemas ${schema}, ${refSchema}, ${noCreateSchema} in place`)
  }

  console.log('')
  if (failures.length) {
    console.log(`RESULT: FAIL (${failures.length})`)
    for (const f of failures) console.log(`  - ${f}`)
    process.exitCode = 1
  } else {
    console.log('RESULT: OK - pg-boss reports no drift and the catalog matches a pg-boss 12.38 install')
  }
}

main().catch(err => {
  console.error('\nRESULT: ERROR', err)
  process.exitCode = 1
})
