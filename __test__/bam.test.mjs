// getBamStatus() and getBamEntries(): reads of the index builds pg-boss records in the `bam`
// table, answered as pg-boss 12.38 answers them (rows, types, paging, validation).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bothForFile, outcome } from './helpers.mjs'

const schema = 'pgbn_test_bam'
let ours, ref, db
bothForFile(schema, both => ({ ours, ref, db } = both))

const ENTRIES = [
  // name, version, status, queue, table, command, error, created, started, completed
  ['job_i1', 46, 'completed', 'q1', 'job_a', 'CREATE INDEX CONCURRENTLY a', null, '2026-01-01T00:00:00.100Z', '2026-01-01T00:00:01.200Z', '2026-01-01T00:00:02.300Z'],
  ['job_i2', 46, 'failed', 'q2', 'job_b', 'CREATE INDEX CONCURRENTLY b', 'could not build', '2026-01-01T00:00:03.400Z', '2026-01-01T00:00:04.500Z', null],
  ['job_i3', 45, 'completed', null, 'job', 'CREATE INDEX CONCURRENTLY c', null, '2026-01-02T00:00:00.600Z', null, '2026-01-02T00:00:05.700Z'],
  ['job_i4', 46, 'completed', 'q3', 'job_c', 'CREATE INDEX CONCURRENTLY d', null, '2026-01-03T00:00:00.800Z', null, null]
]

test('getBamStatus and getBamEntries read the bam table as pg-boss does, page by page', async () => {
  for (const e of ENTRIES) {
    await db.query(`INSERT INTO ${schema}.bam (name, version, status, queue, table_name, command, error, created_on, started_on, completed_on)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, e)
  }
  const status = await ours.getBamStatus()
  assert.deepStrictEqual(status, await ref.getBamStatus())
  assert.deepEqual(status.map(s => [s.status, s.count]), [['completed', 3], ['failed', 1]])
  assert.ok(status[0].lastCreatedOn instanceof Date)

  const all = await ours.getBamEntries()
  assert.deepStrictEqual(all, await ref.getBamEntries())
  assert.deepEqual(all.map(e => e.name), ['job_i3', 'job_i1', 'job_i2', 'job_i4'])
  const first = await ours.getBamEntries({ limit: 2 })
  const rest = await ours.getBamEntries({ limit: 2, after: first.at(-1).id })
  assert.deepStrictEqual(rest, await ref.getBamEntries({ limit: 2, after: first.at(-1).id }))
  assert.deepEqual([...first, ...rest].map(e => e.id), all.map(e => e.id))
  assert.deepStrictEqual(await ours.getBamEntries({ after: all.at(-1).id }), [])
})

test('getBamEntries validates its options with pg-boss messages', async () => {
  const cases = [{ limit: 0 }, { limit: 1.5 }, { limit: null }, { limit: 100001 }, { after: '' }, { after: 5 }, { after: 'not-a-uuid' },
    { after: '00000000-0000-4000-8000-000000000000' }]
  for (const options of cases) {
    assert.deepStrictEqual(await outcome(() => ours.getBamEntries(options)), await outcome(() => ref.getBamEntries(options)), JSON.stringify(options))
  }
})
