// detectSchemaDrift(): ok on a schema either implementation installed (partitioned queues of
// every policy included), and for a tampered schema the same report pg-boss 12.38 gives on the
// same database, entry for entry, plus what the tampering must show.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { connectionString, dropSchema, pool, startBoss, startPgBoss } from './helpers.mjs'

/** Entries whose order is the catalog's scan order (no ORDER BY, in pg-boss either), sorted. */
function comparable (report) {
  const byTable = (a, b) => a.table.localeCompare(b.table)
  return {
    ...report,
    extraIndexes: [...report.extraIndexes].sort((a, b) => a.name.localeCompare(b.name)),
    columnDrift: report.columnDrift.map(c => ({ ...c, unexpectedColumns: [...c.unexpectedColumns].sort() })).sort(byTable),
    constraintDrift: report.constraintDrift.map(c => ({ ...c, unexpectedConstraints: [...c.unexpectedConstraints].sort() })).sort(byTable)
  }
}

/**
 * `schema` installed by `installer` ('ours' or 'ref'), `setup(ours)` (queues), `tamper(db)`, then
 * both implementations' reports, which must be equal; ours is returned.
 */
async function driftAfter (schema, { installer = 'ours', setup, tamper } = {}) {
  await dropSchema(schema)
  const db = pool()
  let ours, ref
  try {
    if (installer === 'ours') {
      ours = await startBoss(schema)
      ref = await startPgBoss(schema, { migrate: false })
    } else {
      ref = await startPgBoss(schema)
      ours = await startBoss(schema)
    }
    if (setup) await setup(ours)
    if (tamper) await tamper(db)
    const mine = await ours.detectSchemaDrift()
    const theirs = await ref.detectSchemaDrift()
    assert.deepEqual(comparable(mine), comparable(theirs))
    return mine
  } finally {
    await ours?.stop({ graceful: false })
    await ref?.stop({ graceful: false })
    await db.end()
    await dropSchema(schema)
  }
}

function assertClean (report) {
  assert.deepEqual(report, {
    ok: true,
    missingTables: [],
    missing: [],
    building: [],
    invalid: [],
    extraIndexes: [],
    mismatched: [],
    missingFunctions: [],
    mismatchedFunctions: [],
    columnDrift: [],
    constraintDrift: [],
    enumDrift: null
  })
}

test('a fresh pg-boss-native install has no drift', async () => {
  assertClean(await driftAfter('drift_fresh'))
})

test('a pg-boss 12.38 install has no drift', async () => {
  assertClean(await driftAfter('drift_ref_install', { installer: 'ref' }))
})

test('the expected shape (src/drift/schema46.json) is what migrations/0046_install.sql creates', () => {
  const script = fileURLToPath(new URL('../scripts/drift-manifest.mjs', import.meta.url))
  const run = spawnSync(process.execPath, [script, '--check'], { env: { ...process.env, DATABASE_URL: connectionString }, encoding: 'utf8' })
  assert.equal(run.status, 0, run.stderr + run.stdout)
})

const POLICIES = ['standard', 'short', 'singleton', 'stately', 'exclusive', 'key_strict_fifo']

test('partitioned queues of every policy carry their policy indexes without drift, either installer', async () => {
  for (const installer of ['ours', 'ref']) {
    const report = await driftAfter(`drift_parts_${installer}`, {
      installer,
      setup: async boss => { for (const policy of POLICIES) await boss.createQueue(`p-${policy}`, { policy, partition: true }) }
    })
    assertClean(report)
  }
})

test('a partitioned queue missing its policy index reports that index, named after its table', async () => {
  let table
  const report = await driftAfter('drift_part_missing', {
    setup: async boss => { await boss.createQueue('fifo', { policy: 'key_strict_fifo', partition: true }) },
    tamper: async db => {
      table = (await db.query("SELECT table_name FROM drift_part_missing.queue WHERE name = 'fifo'")).rows[0].table_name
      await db.query(`DROP INDEX drift_part_missing.${table}_i8`)
    }
  })
  assert.equal(report.ok, false)
  assert.deepEqual(report.missing.map(i => [i.name, i.table]), [[`${table}_i8`, table]])
  assert.equal(report.missing[0].definition,
    `CREATE UNIQUE INDEX ${table}_i8 ON drift_part_missing.${table} (name, singleton_key) WHERE (state = ANY (ARRAY['active', 'retry', 'failed'])) AND (policy = 'key_strict_fifo')`)
})

test('a dropped index is missing, with the statement that recreates it', async () => {
  const report = await driftAfter('drift_index_dropped', { tamper: db => db.query('DROP INDEX drift_index_dropped.job_common_i9') })
  assert.equal(report.ok, false)
  assert.deepEqual(report.missing, [{
    name: 'job_common_i9',
    table: 'job_common',
    keys: 'name, id',
    include: '',
    predicate: "blocking AND (state = 'completed')",
    definition: "CREATE INDEX job_common_i9 ON drift_index_dropped.job_common (name, id) WHERE blocking AND (state = 'completed')"
  }])
})

test('a dropped index an async build is still making is building, not missing', async () => {
  const report = await driftAfter('drift_index_building', {
    tamper: async db => {
      await db.query('DROP INDEX drift_index_building.job_common_i9')
      await db.query(`INSERT INTO drift_index_building.bam (name, version, status, started_on, table_name, command)
        VALUES ('drift', 46, 'in_progress', now(), 'job_common', 'CREATE INDEX CONCURRENTLY job_common_i9 ON drift_index_building.job_common (name, id)')`)
    }
  })
  assert.equal(report.ok, true)
  assert.deepEqual(report.missing, [])
  assert.deepEqual(report.building.map(i => i.name), ['job_common_i9'])
})

test('an invalid index is reported invalid', async () => {
  const report = await driftAfter('drift_index_invalid', {
    tamper: db => db.query("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'drift_index_invalid.job_common_i11'::regclass")
  })
  assert.equal(report.ok, false)
  assert.deepEqual(report.invalid.map(i => [i.name, i.building]), [['job_common_i11', false]])
})

test('reordered keys, another predicate and a dropped INCLUDE are mismatched, saying which part differs', async () => {
  const report = await driftAfter('drift_index_changed', {
    tamper: async db => {
      const s = 'drift_index_changed'
      await db.query(`DROP INDEX ${s}.job_common_i9; CREATE INDEX job_common_i9 ON ${s}.job_common (id, name) WHERE blocking AND state = 'completed'`)
      await db.query(`DROP INDEX ${s}.job_common_i7; CREATE INDEX job_common_i7 ON ${s}.job_common (name, group_id) WHERE state = 'retry' AND group_id IS NOT NULL`)
      await db.query(`DROP INDEX ${s}.job_common_i10; CREATE INDEX job_common_i10 ON ${s}.job_common (name, singleton_key, state DESC, created_on, id) WHERE state < 'active' AND NOT blocked AND policy = 'key_strict_fifo'`)
    }
  })
  assert.equal(report.ok, false)
  const byName = Object.fromEntries(report.mismatched.map(m => [m.name, m]))
  assert.deepEqual(Object.keys(byName).sort(), ['job_common_i10', 'job_common_i7', 'job_common_i9'])
  assert.deepEqual(byName.job_common_i9.differs, ['keys'])
  assert.equal(byName.job_common_i9.actualKeys, 'id, name')
  assert.equal(byName.job_common_i9.actualDefinition, "CREATE INDEX job_common_i9 ON drift_index_changed.job_common (id, name) WHERE blocking AND (state = 'completed')")
  assert.deepEqual(byName.job_common_i7.differs, ['predicate'])
  assert.equal(byName.job_common_i7.actualPredicate, "(state = 'retry') AND (group_id IS NOT NULL)")
  assert.deepEqual(byName.job_common_i10.differs, ['include'])
  assert.deepEqual([byName.job_common_i10.expectedInclude, byName.job_common_i10.actualInclude], ['start_after', ''])
})

test('indexes nobody expects on a managed table are extra: a warning, ok stays true', async () => {
  const report = await driftAfter('drift_index_extra', {
    tamper: db => db.query('CREATE INDEX job_common_i99 ON drift_index_extra.job_common (name); CREATE INDEX my_idx ON drift_index_extra.queue (policy)')
  })
  assert.equal(report.ok, true)
  assert.deepEqual(report.extraIndexes.map(i => [i.name, i.table]).sort(), [['job_common_i99', 'job_common'], ['my_idx', 'queue']])
})

test('a changed default, type and nullability are column drift', async () => {
  const report = await driftAfter('drift_columns', {
    tamper: db => db.query(`ALTER TABLE drift_columns.queue ALTER COLUMN notify SET DEFAULT true,
      ALTER COLUMN retry_limit TYPE bigint, ALTER COLUMN policy DROP NOT NULL`)
  })
  assert.equal(report.ok, false)
  assert.deepEqual(report.columnDrift, [{
    table: 'queue',
    missingColumns: [],
    unexpectedColumns: [],
    defaultMismatches: [{ column: 'notify', expected: 'false', actual: 'true' }],
    typeMismatches: [{ column: 'retry_limit', expected: 'integer', actual: 'bigint' }],
    nullabilityMismatches: [{ column: 'policy', expected: true, actual: false }]
  }])
})

test('an added and a dropped column are column drift; the job tables are checked by name', async () => {
  const report = await driftAfter('drift_columns_set', {
    tamper: db => db.query(`ALTER TABLE drift_columns_set.warning ADD COLUMN legacy_flag boolean, DROP COLUMN data;
      ALTER TABLE drift_columns_set.job ADD COLUMN extra int`)
  })
  assert.equal(report.ok, false)
  assert.deepEqual(report.columnDrift.map(c => [c.table, c.missingColumns, c.unexpectedColumns]).sort(),
    [['job', [], ['extra']], ['job_common', [], ['extra']], ['warning', ['data'], ['legacy_flag']]])
})

test('an added and a dropped constraint are constraint drift', async () => {
  const report = await driftAfter('drift_constraints', {
    tamper: db => db.query(`ALTER TABLE drift_constraints.warning ADD CONSTRAINT extra_chk CHECK (type <> '');
      ALTER TABLE drift_constraints.queue DROP CONSTRAINT queue_check`)
  })
  assert.equal(report.ok, false)
  const byTable = Object.fromEntries(report.constraintDrift.map(c => [c.table, c]))
  assert.deepEqual(byTable.warning.unexpectedConstraints, ["CHECK ((type <> ''::text))"])
  assert.deepEqual(byTable.queue.missingConstraints.length, 1)
  assert.match(byTable.queue.missingConstraints[0], /^CHECK \(\(dead_letter IS DISTINCT FROM name\)\)$/)
})

test('a dropped function is missing and a changed body mismatched, with both definitions', async () => {
  const report = await driftAfter('drift_functions', {
    tamper: db => db.query(`DROP FUNCTION drift_functions.job_table_run_async(text, integer, text, text, text);
      CREATE OR REPLACE FUNCTION drift_functions.job_table_format(command text, table_name text)
      RETURNS text AS $$ SELECT command; $$ LANGUAGE sql IMMUTABLE`)
  })
  assert.equal(report.ok, false)
  assert.deepEqual(report.missingFunctions.map(f => f.name), ['job_table_run_async'])
  assert.match(report.missingFunctions[0].definition, /^CREATE OR REPLACE FUNCTION drift_functions\.job_table_run_async\(command_name text, /)
  assert.deepEqual(report.mismatchedFunctions.map(f => [f.name, f.actualBody]), [['job_table_format', 'SELECT command;']])
  assert.match(report.mismatchedFunctions[0].expectedBody, /^SELECT format\( regexp_replace\(/)
})

test('an added and a reordered enum value are enum drift', async () => {
  const report = await driftAfter('drift_enum', {
    tamper: db => db.query("ALTER TYPE drift_enum.job_state ADD VALUE 'archived'; ALTER TYPE drift_enum.job_state ADD VALUE 'early' BEFORE 'created'")
  })
  assert.equal(report.ok, false)
  assert.deepEqual(report.enumDrift, {
    name: 'job_state',
    expectedValues: ['created', 'retry', 'active', 'completed', 'cancelled', 'failed'],
    actualValues: ['early', 'created', 'retry', 'active', 'completed', 'cancelled', 'failed', 'archived']
  })
})

test('a dropped table is missing and its columns are not listed again', async () => {
  const report = await driftAfter('drift_tables', { tamper: db => db.query('DROP TABLE drift_tables.warning, drift_tables.bam') })
  assert.equal(report.ok, false)
  assert.deepEqual(report.missingTables, ['bam', 'warning'])
  assert.deepEqual(report.missing.map(i => i.name), ['warning_i1'])
  assert.deepEqual(report.columnDrift, [])
})

test('an instance whose TestClock holds job_now() expects its body; another instance sees the override', async () => {
  const { TestClock } = await import('../index.mjs')
  const schema = 'drift_clock'
  await dropSchema(schema)
  const clock = new TestClock()
  const held = await startBoss(schema, { clock })
  const other = await startBoss(schema)
  try {
    assertClean(await held.detectSchemaDrift())
    const seen = await other.detectSchemaDrift()
    assert.deepEqual(seen.mismatchedFunctions.map(f => f.name), ['job_now'])
    assert.match(seen.mismatchedFunctions[0].actualBody, /current_setting\('pgboss\.test_clock', true\)/)
  } finally {
    await held.stop({ graceful: false })
    await other.stop({ graceful: false })
    await dropSchema(schema)
  }
})

test("through a caller's db (constructor db option) the scan reads the same catalog", async () => {
  const schema = 'drift_caller_db'
  await dropSchema(schema)
  const own = pool()
  const calls = []
  const db = { executeSql: (text, values) => { calls.push(text); return own.query(text, values) } }
  const boss = await startBoss(schema, { db })
  try {
    await own.query(`DROP INDEX ${schema}.job_common_i9`)
    calls.length = 0
    const report = await boss.detectSchemaDrift()
    assert.deepEqual(report.missing.map(i => i.name), ['job_common_i9'])
    assert.ok(calls.some(text => text.includes('pg_get_indexdef')), 'the catalog read went through executeSql')
  } finally {
    await boss.stop({ graceful: false })
    await own.end()
    await dropSchema(schema)
  }
})

test('on the cockroachdb backend only presence is compared (its catalog renders types and definitions its own way)', async () => {
  const schema = 'drift_crdb_gate'
  await dropSchema(schema)
  const db = pool()
  const postgres = await startBoss(schema)
  const crdb = await startBoss(schema, { backend: 'cockroachdb' })
  try {
    await db.query(`ALTER TABLE ${schema}.queue ALTER COLUMN retry_limit TYPE bigint;
      DROP INDEX ${schema}.job_common_i9; CREATE INDEX job_common_i9 ON ${schema}.job_common (id, name);
      DROP INDEX ${schema}.job_common_i10`)
    const strict = await postgres.detectSchemaDrift()
    assert.deepEqual(strict.columnDrift.map(c => c.table), ['queue'])
    assert.deepEqual(strict.mismatched.map(m => m.name), ['job_common_i9'])
    const loose = await crdb.detectSchemaDrift()
    assert.deepEqual([loose.columnDrift, loose.mismatched, loose.constraintDrift], [[], [], []])
    assert.deepEqual(loose.missing.map(i => [i.name, i.include]), [['job_common_i10', '']])
  } finally {
    await postgres.stop({ graceful: false })
    await crdb.stop({ graceful: false })
    await db.end()
    await dropSchema(schema)
  }
})
