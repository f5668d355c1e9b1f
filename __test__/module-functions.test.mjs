// The functions exported beside the class: addBins and percentile (histogram helpers), and the SQL
// of getUninstallPlans and getIndexBloatPlans, from CommonJS and ESM, answering as pg-boss 12.38.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import * as esm from '../index.mjs'
import { dropSchema, outcome, pool, startBoss } from './helpers.mjs'

const require = createRequire(import.meta.url)
const cjs = require('../index.js')
const NAMES = ['addBins', 'percentile', 'getIndexBloatPlans', 'getUninstallPlans']

test('both entries export the four functions, the same objects', () => {
  for (const name of NAMES) {
    assert.equal(typeof esm[name], 'function', name)
    assert.equal(esm[name], cjs[name], name)
  }
})

test('addBins and percentile answer as pg-boss 12.38', async () => {
  const ref = await import('pg-boss')
  const bins = [[0, 5, 5, 0], [1, 0, 0], [0, 0, 3], [0, 0], [], null, undefined, [3, 1, 4, 1, 5, 9, 2, 6]]
  for (const a of bins) {
    for (const b of bins) assert.deepEqual(esm.addBins(a, b), ref.addBins(a, b), JSON.stringify([a, b]))
    for (const p of [1, 25, 50, 95, 99.9, 100, 0, 101, '50', NaN]) {
      assert.deepEqual(await outcome(() => esm.percentile(a, p)), await outcome(() => ref.percentile(a, p)), JSON.stringify([a, p]))
    }
  }
})

test('getIndexBloatPlans() is a runnable query with IndexBloat\'s columns, thresholds checked as pg-boss does', async () => {
  const ref = await import('pg-boss')
  for (const options of [{ minPages: -1 }, { maxEntriesPerPage: '5' }, { minSizeRatio: Infinity }]) {
    const a = await outcome(() => esm.getIndexBloatPlans('x', options))
    assert.equal(a.error, 'AssertionError')
    assert.deepEqual(a, await outcome(() => ref.getIndexBloatPlans('x', options)))
  }
  const schema = 'stats_module_fns'
  await dropSchema(schema)
  const boss = await startBoss(schema)
  const db = pool()
  try {
    const { rows, fields } = await db.query(esm.getIndexBloatPlans(schema, { minPages: 0, maxEntriesPerPage: 1e9, minSizeRatio: 0 }))
    assert.deepEqual(fields.map(f => f.name), ['name', 'table', 'pages', 'entries', 'bytes', 'owned'])
    assert.ok(rows.some(r => r.name === 'job_common_pkey' && r.table === 'job_common' && r.owned === true))
    assert.deepEqual((await db.query(esm.getIndexBloatPlans(schema))).rows, [], 'a fresh install has no bloat')
  } finally {
    await boss.stop()
    await db.end()
  }
})

test('getUninstallPlans() removes every object of an install and nothing else', async () => {
  const ref = await import('pg-boss')
  assert.deepEqual(await outcome(() => esm.getUninstallPlans('x', { backend: 'mysql' })), await outcome(() => ref.getUninstallPlans('x', { backend: 'mysql' })))
  assert.deepEqual(await outcome(() => esm.getUninstallPlans('bad-name')), await outcome(() => ref.getUninstallPlans('bad-name')))
  const schema = 'stats_uninstall'
  await dropSchema(schema)
  const boss = await startBoss(schema)
  await boss.createQueue('own-table', { partition: true })
  await boss.stop()
  const db = pool()
  try {
    await db.query(`CREATE TABLE ${schema}.keep_me (id int)`)
    await db.query(esm.getUninstallPlans(schema))
    const { rows } = await db.query(`SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'S') UNION ALL
      SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 UNION ALL
      SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = $1 AND t.typtype = 'e'`, [schema])
    assert.deepEqual(rows.map(r => r.relname), ['keep_me'])
  } finally {
    await db.end()
    await dropSchema(schema)
    await dropSchema('stats_module_fns')
  }
})
