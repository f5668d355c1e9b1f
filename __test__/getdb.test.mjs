// getDb(): the native pool as an IDatabase, with rows typed as node-postgres types them.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss } from '../index.mjs'
import { connectionString, dropSchema, startPgBoss } from './helpers.mjs'

const schema = 'pgbn_test_getdb'
let boss

before(async () => {
  await dropSchema(schema)
  boss = new PgBoss({ connectionString, schema, supervise: false, schedule: false })
  await boss.start()
})

after(async () => {
  await boss.stop({ graceful: false })
  await dropSchema(schema)
})

test('getDb().executeSql runs parameterized SQL and types values like node-postgres', async () => {
  const sql = 'SELECT 1 AS one, 2::bigint AS big, 1.5::numeric(5,2) AS n, true AS b, $1::text AS s, $2::int AS i, $3::jsonb AS j, $4::timestamptz AS t'
  const values = ['x', 5, { k: [1] }, new Date(Date.UTC(2030, 0, 1))]
  const { rows: [ours] } = await boss.getDb().executeSql(sql, values)
  const reference = await startPgBoss(schema, { migrate: false })
  try {
    const { rows: [theirs] } = await reference.getDb().executeSql(sql, values)
    assert.deepStrictEqual(ours, theirs)
  } finally {
    await reference.stop({ graceful: false })
  }
})

test('getDb().executeSql reads and writes pg-boss tables and reports SQL errors with their code', async () => {
  await boss.createQueue('g')
  const id = await boss.send('g', { a: 1 })
  const db = boss.getDb()
  const { rows } = await db.executeSql(`SELECT id, state, data, created_on FROM ${schema}.job WHERE id = $1`, [id])
  assert.equal(rows[0].id, id)
  assert.equal(rows[0].state, 'created')
  assert.deepEqual(rows[0].data, { a: 1 })
  assert.ok(rows[0].created_on instanceof Date)
  await assert.rejects(db.executeSql('SELECT nope'), err => err.code === '42703')
})

test('getDb().executeSql reports rowCount, and one result per statement of a script, as node-postgres does', async () => {
  const table = `${schema}.counted`
  const statements = [
    [`CREATE TABLE ${table} (k int)`],
    [`INSERT INTO ${table} SELECT generate_series(1, 3)`],
    [`UPDATE ${table} SET k = k + 10 WHERE k > $1`, [1]],
    [`SELECT k FROM ${table} ORDER BY k`],
    [`DELETE FROM ${table} WHERE k = $1`, [11]],
    [`INSERT INTO ${table} VALUES (1); SELECT count(*)::int AS n FROM ${table}; DELETE FROM ${table}`],
    [`DROP TABLE ${table}`]
  ]
  const reference = await startPgBoss(schema, { migrate: false })
  // a script's cells come back as text (the simple protocol's; node-postgres parses them by type)
  const asText = row => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, String(v)]))
  const shape = r => Array.isArray(r) ? r.map(s => ({ rows: s.rows.map(asText), rowCount: s.rowCount })) : { rows: r.rows, rowCount: r.rowCount }
  try {
    for (const [text, values] of statements) {
      const ours = await boss.getDb().executeSql(text, values)
      // the reference runs on the table state ours left, so run it in a twin table
      const theirs = await reference.getDb().executeSql(text.replaceAll(table, `${table}_ref`), values)
      if (text.startsWith('CREATE') || text.startsWith('DROP')) continue // node-postgres: null; ours: 0 (documented)
      assert.deepStrictEqual(shape(ours), shape(theirs), text)
    }
    const script = await boss.getDb().executeSql('SELECT 1 AS a; SELECT 2 AS b')
    assert.ok(Array.isArray(script) && script.length === 2)
  } finally {
    await reference.stop({ graceful: false })
  }
})
