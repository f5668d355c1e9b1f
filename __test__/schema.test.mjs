// Schema install and checks at start(): our install is one pg-boss 12.38 accepts as its own.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss } from '../index.mjs'
import { connectionString, dropSchema, pool, startBoss, startPgBoss, rejection } from './helpers.mjs'

const SCHEMA = 'pgbn_schema_test'
const QUOTED = '"PgbnSchema Test"'
const FRESH = 'pgbn_schema_race'
const PRECREATED = 'pgbn_schema_pre'
const EMPTY = 'pgbn_schema_empty'
const ALL = [SCHEMA, QUOTED, FRESH, PRECREATED, EMPTY]

let db
before(async () => {
  for (const s of ALL) await dropSchema(s)
  db = pool()
})
after(async () => {
  for (const s of ALL) await dropSchema(s)
  await db.end()
})

for (const schema of [SCHEMA, QUOTED]) {
  test(`start() installs schema 46 that pg-boss 12.38 accepts without migrating (${schema})`, async () => {
    const ours = await startBoss(schema)
    try {
      const { rows } = await db.query(`SELECT version FROM ${schema}.version`)
      assert.equal(rows.length, 1)
      assert.equal(Number(rows[0].version), 46)
      assert.equal(await ours.isInstalled(), true)
      assert.equal(await ours.schemaVersion(), 46)

      const ref = await startPgBoss(schema, { migrate: false })
      try {
        const drift = await ref.detectSchemaDrift()
        assert.equal(drift.ok, true, JSON.stringify(drift))
        assert.equal(await ref.isInstalled(), await ours.isInstalled())
        assert.equal(await ref.schemaVersion(), await ours.schemaVersion())
        // and what each creates, the other reads
        await ours.createQueue('from-native')
        await ref.createQueue('from-pgboss', { partition: true })
        assert.ok(await ref.getQueue('from-native'))
        assert.ok(await ours.getQueue('from-pgboss'))
        assert.equal((await ref.detectSchemaDrift()).ok, true)
      } finally {
        await ref.stop({ graceful: false })
      }
    } finally {
      await ours.stop()
    }
  })
}

test('a second start() on an installed schema changes nothing and pg-boss with migrate: true finds nothing to do', async () => {
  const ours = await startBoss(SCHEMA)
  await ours.stop()
  const ref = await startPgBoss(SCHEMA)
  try {
    assert.equal(await ref.schemaVersion(), 46)
    assert.equal((await ref.detectSchemaDrift()).ok, true)
  } finally {
    await ref.stop({ graceful: false })
  }
})

test("migrate: false on an empty schema throws 'pg-boss is not installed', like pg-boss", async () => {
  const ours = new PgBoss({ connectionString, schema: EMPTY, migrate: false, supervise: false, schedule: false })
  const err = await rejection(ours.start())
  const { PgBoss: Reference } = await import('pg-boss')
  const ref = new Reference({ connectionString, schema: EMPTY, migrate: false, supervise: false, schedule: false })
  ref.on('error', () => {})
  const refErr = await rejection(ref.start())
  assert.equal(err.message, 'pg-boss is not installed')
  assert.equal(err.message, refErr.message)
  assert.equal(err.constructor, refErr.constructor)
  const { rows } = await db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [EMPTY])
  assert.equal(rows.length, 0, 'nothing was created')
})

// 21-45 are upgraded in place (21-24 by the pg-boss 10 path); 20 and below are refused
for (const version of [47, 20]) {
  test(`a schema at version ${version} is refused at start() with what was found and what to do`, async () => {
    const setup = await startBoss(SCHEMA)
    await setup.stop()
    await db.query(`UPDATE ${SCHEMA}.version SET version = $1`, [version])
    try {
      const ours = new PgBoss({ connectionString, schema: SCHEMA, supervise: false, schedule: false })
      const err = await rejection(ours.start())
      assert.ok(err instanceof Error)
      assert.match(err.message, new RegExp(`schema ${SCHEMA} is at version ${version}`))
      assert.match(err.message, /serves pg-boss schema version 46/)
      assert.match(err.message, version > 46 ? /Upgrade pg-boss-native/ : /no pg-boss release migrates this one/)
      // nothing was touched
      const { rows } = await db.query(`SELECT version FROM ${SCHEMA}.version`)
      assert.equal(Number(rows[0].version), version)
      // the instance holds nothing: a later stop() is a no-op
      await ours.stop()
    } finally {
      await db.query(`UPDATE ${SCHEMA}.version SET version = 46`)
    }
  })
}

test('our start() and pg-boss start() racing on a fresh schema both succeed', async () => {
  for (let round = 0; round < 3; round++) {
    await dropSchema(FRESH)
    const { PgBoss: Reference } = await import('pg-boss')
    const ours = new PgBoss({ connectionString, schema: FRESH, supervise: false, schedule: false })
    const ref = new Reference({ connectionString, schema: FRESH, supervise: false, schedule: false })
    ref.on('error', () => {})
    const results = await Promise.allSettled(round % 2 ? [ref.start(), ours.start()] : [ours.start(), ref.start()])
    try {
      for (const r of results) assert.equal(r.status, 'fulfilled', String(r.reason?.stack ?? r.reason))
      assert.equal(await ours.schemaVersion(), 46)
      assert.equal((await ref.detectSchemaDrift()).ok, true)
    } finally {
      await ours.stop()
      await ref.stop({ graceful: false })
    }
  }
})

test('two concurrent start() calls on one instance share one start', async () => {
  await dropSchema(FRESH)
  const ours = new PgBoss({ connectionString, schema: FRESH, supervise: false, schedule: false })
  const [a, b] = await Promise.all([ours.start(), ours.start()])
  try {
    assert.equal(a, ours)
    assert.equal(b, ours)
    assert.equal(await ours.schemaVersion(), 46)
    // started once: a third call returns at once with the same instance
    assert.equal(await ours.start(), ours)
  } finally {
    await ours.stop()
  }
})

test('createSchema: false installs into a schema the caller created', async () => {
  await db.query(`CREATE SCHEMA ${PRECREATED}`)
  const ours = await startBoss(PRECREATED, { createSchema: false })
  try {
    assert.equal(await ours.schemaVersion(), 46)
    const ref = await startPgBoss(PRECREATED, { migrate: false })
    try {
      assert.equal((await ref.detectSchemaDrift()).ok, true)
    } finally {
      await ref.stop({ graceful: false })
    }
  } finally {
    await ours.stop()
  }
})

test('createSchema: false does not create a missing schema', async () => {
  await dropSchema(EMPTY)
  const ours = new PgBoss({ connectionString, schema: EMPTY, createSchema: false, supervise: false, schedule: false })
  const err = await rejection(ours.start())
  assert.match(err.message, /schema "pgbn_schema_empty" does not exist/)
  const { rows } = await db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [EMPTY])
  assert.equal(rows.length, 0)
})
