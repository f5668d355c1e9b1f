// getReindexCommands(): the statements that rebuild bloated job indexes, compared with pg-boss
// 12.38's on the same database, with and without bloat, with a stub of an interrupted rebuild,
// and with bad thresholds.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bothForFile, outcome } from './helpers.mjs'

const SCHEMA = 'pgbn_test_reindex'
let ours, ref, db
bothForFile(SCHEMA, both => ({ ours, ref, db } = both))

/** Both implementations' answer, in a stable order (equal-sized indexes tie in the ORDER BY). */
async function bothAnswer (options) {
  const sorted = async boss => {
    const answer = await outcome(() => boss.getReindexCommands(options))
    if (answer.ok) answer.ok = [...answer.ok].sort()
    return answer
  }
  const mine = await sorted(ours)
  assert.deepEqual(mine, await sorted(ref), JSON.stringify(options))
  return mine
}

test('getReindexCommands() names the bloated job indexes as pg-boss does, stubs dropped first', async () => {
  await ours.createQueue('bloat')
  await db.query(`VACUUM ANALYZE ${SCHEMA}.job_common`)
  // a healthy table: nothing to rebuild at the defaults, every index with force
  assert.deepEqual((await bothAnswer({})).ok, [])
  assert.deepEqual((await bothAnswer(undefined)).ok, [])
  const forced = (await bothAnswer({ force: true })).ok
  assert.ok(forced.length >= 8 && forced.every(c => c.startsWith(`REINDEX INDEX CONCURRENTLY ${SCHEMA}."job_common_`)), forced.join('\n'))

  // a drained backlog leaves its pages behind
  await ours.insert('bloat', Array.from({ length: 20000 }, (_, i) => ({ data: { i }, singletonKey: `k${i}` })))
  await db.query(`DELETE FROM ${SCHEMA}.job_common WHERE name = 'bloat'`)
  await db.query(`VACUUM ANALYZE ${SCHEMA}.job_common`)
  const bloated = (await bothAnswer({ minPages: 10 })).ok
  assert.ok(bloated.some(c => c === `REINDEX INDEX CONCURRENTLY ${SCHEMA}."job_common_pkey"`), bloated.join('\n'))
  assert.deepEqual((await bothAnswer({ minPages: 10, maxIndexBytes: 1 })).ok, [])
  await bothAnswer({ minPages: 10, maxEntriesPerPage: 0 })
  await bothAnswer({ minPages: 10, minSizeRatio: 1e9 })

  // an interrupted REINDEX CONCURRENTLY leaves an invalid _ccnew index
  await db.query(`CREATE INDEX job_common_i1_ccnew ON ${SCHEMA}.job_common (created_on)`)
  await db.query(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = '${SCHEMA}.job_common_i1_ccnew'::regclass`)
  const withStub = await ours.getReindexCommands({ minPages: 10 })
  assert.equal(withStub[0], `DROP INDEX CONCURRENTLY IF EXISTS ${SCHEMA}."job_common_i1_ccnew"`)
  assert.ok(withStub.slice(1).every(c => c.startsWith('REINDEX')))
  await bothAnswer({ minPages: 10 })
  await db.query(`DROP INDEX ${SCHEMA}.job_common_i1_ccnew`)
})

test('getReindexCommands() refuses thresholds it cannot use, as pg-boss does', async () => {
  for (const options of [{ minPages: -1 }, { maxEntriesPerPage: '5' }, { minSizeRatio: true }, { minPages: null, maxEntriesPerPage: -0.5 }]) {
    const answer = await bothAnswer(options)
    assert.equal(answer.error, 'AssertionError', JSON.stringify(options))
  }
  // force reads no thresholds
  assert.ok((await bothAnswer({ force: true, minPages: -1 })).ok.length > 0)
})
