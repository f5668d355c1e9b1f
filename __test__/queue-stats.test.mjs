// Queue stats history (persistQueueStats): the snapshots each monitor pass records, the series
// getQueueStats() reads back (raw, bucketed, aggregated, with percentiles) held to pg-boss
// 12.38's own answers on the same rows, retention of old days and old warnings, and the
// validation of the options involved.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss, addBins, percentile } from '../index.mjs'
import { connectionString, dropSchema, outcome, pool, sleep, startBoss, startPgBoss } from './helpers.mjs'

const schema = 'stats_history'
let ours, ref, db

before(async () => {
  await dropSchema(schema)
  ours = await startBoss(schema, { persistQueueStats: true, persistWarnings: true, monitorIntervalSeconds: 1, warningRetentionDays: 30 })
  ref = await startPgBoss(schema, { migrate: false, persistQueueStats: true })
  db = pool()
})

after(async () => {
  await ours?.stop()
  await ref?.stop({ graceful: false })
  await db?.end()
  await dropSchema(schema)
})

const withoutTime = rows => rows.map(({ capturedOn, ...rest }) => rest)

test('each monitor pass records a snapshot, and getQueueStats() returns the series newest first', async () => {
  const q = 'series'
  await ours.createQueue(q)
  const queued = []
  for (let pass = 1; pass <= 3; pass++) {
    await ours.insert(q, Array.from({ length: pass * 2 }, () => ({ data: {} })))
    queued.push(pass * (pass + 1))
    await ours.supervise(q)
    await sleep(1100) // the monitor claim is due again after monitorIntervalSeconds
  }
  const series = await ours.getQueueStats(q)
  assert.deepEqual(series.map(s => s.queuedCount), queued.reverse())
  assert.ok(series.every(s => s.name === q && s.capturedOn instanceof Date))
  assert.ok(series[0].capturedOn > series[1].capturedOn && series[1].capturedOn > series[2].capturedOn)
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.queue_stats WHERE name = $1`, [q])
  assert.equal(rows[0].n, 3)
  // pg-boss 12.38 reads the same rows the same way
  assert.deepEqual(series, await ref.getQueueStats(q))
  assert.deepEqual(await ours.getQueueStats(q, { limit: 2 }), await ref.getQueueStats(q, { limit: 2 }))
})

/** A snapshot row as a pass records it, at a fixed time, with deltas and histograms. */
async function record (name, capturedOn, values) {
  const bins = n => { const b = new Array(48).fill(null); b[3] = n; b[10] = n * 2; return b }
  await db.query(
    `INSERT INTO ${schema}.queue_stats (name, queued_count, ready_count, active_count, total_count,
       created_delta, completed_delta, failed_delta, delta_seconds, delta_on, wait_bins, run_bins,
       ready_oldest_seconds, captured_on)
     VALUES ($1, $2::int, $2::int, $3::int, $2::int + $3::int, $4, $5, 0, 60, $6::timestamptz - interval '10 seconds', $7, $8, $3::int, $6)`,
    [name, values.queued, values.active, values.created, values.completed, capturedOn, bins(values.completed), bins(values.created)])
}

test('bucketed, aggregated and bounded reads of a series equal pg-boss 12.38', async () => {
  const q = 'buckets'
  await ours.createQueue(q)
  const start = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate(), 1, 0, 0)
  for (let i = 0; i < 12; i++) {
    await record(q, new Date(start + i * 25_000), { queued: (i * 7) % 11, active: i % 3, created: i + 1, completed: i })
  }
  const cases = [
    {},
    { bucketSeconds: 60 },
    { bucketSeconds: 60, aggregate: 'min' },
    { bucketSeconds: 120, aggregate: 'avg' },
    { bucketSeconds: 1 },
    { maxDataPoints: 3 },
    { maxDataPoints: 1, aggregate: 'avg' },
    { bucketSeconds: 60, limit: 2 },
    { from: new Date(start + 60_000), to: new Date(start + 200_000) },
    { bucketSeconds: 60, from: new Date(start + 60_000), to: new Date(start + 200_000) },
    { maxDataPoints: 4, from: new Date(start + 30_000) },
    { bucketSeconds: 60, percentiles: [50, 95, 50] },
    { percentiles: [99.9, 1] }
  ]
  for (const options of cases) {
    const a = await ours.getQueueStats(q, options)
    assert.deepEqual(a, await ref.getQueueStats(q, options), JSON.stringify(options))
    assert.ok(a.length > 0, JSON.stringify(options))
  }
  // a bucket sums its passes' counters and histograms; percentiles read that histogram
  const [newest] = await ours.getQueueStats(q, { bucketSeconds: 3600, percentiles: [50] })
  assert.equal(newest.completedDelta, 66)
  const raw = await ours.getQueueStats(q)
  assert.deepEqual(newest.waitBins, raw.map(s => s.waitBins).reduce((sum, bins) => addBins(sum, bins), null))
  assert.equal(newest.percentiles[0].waitSeconds, percentile(newest.waitBins, 50))
})

test('getQueueStats() refuses options as pg-boss 12.38 does', async () => {
  const q = 'options'
  await ours.createQueue(q)
  const cases = [
    { limit: 0 }, { limit: 100001 }, { limit: 1.5 }, { limit: null },
    { bucketSeconds: 0 }, { bucketSeconds: 2.5 }, { maxDataPoints: -1 }, { maxDataPoints: '5' },
    { bucketSeconds: 60, aggregate: 'sum' }, { maxDataPoints: 5, aggregate: null },
    { percentiles: [] }, { percentiles: [0] }, { percentiles: [101] }, { percentiles: ['50'] }, { percentiles: 50 }
  ]
  for (const options of cases) {
    const a = await outcome(() => ours.getQueueStats(q, options))
    assert.equal(a.error, 'AssertionError', JSON.stringify(options))
    assert.deepEqual(a, await outcome(() => ref.getQueueStats(q, options)), JSON.stringify(options))
  }
  assert.deepEqual(await outcome(() => ours.getQueueStats('missing')), await outcome(() => ref.getQueueStats('missing')))
})

test('without persistQueueStats the current counts carry percentiles too (null without histograms)', async () => {
  const plain = await startBoss(schema, { migrate: false })
  const reference = await startPgBoss(schema, { migrate: false })
  try {
    const got = await plain.getQueueStats('options', { percentiles: [50], force: true })
    assert.deepEqual(got[0].percentiles, [{ p: 50, waitSeconds: null, runSeconds: null }])
    assert.deepEqual(withoutTime(got), withoutTime(await reference.getQueueStats('options', { percentiles: [50] })))
  } finally {
    await plain.stop()
    await reference.stop({ graceful: false })
  }
})

test('supervise keeps today\'s and tomorrow\'s partitions and drops days past queueStatRetentionDays', async () => {
  await db.query(`CREATE TABLE ${schema}.queue_stats_20200101 PARTITION OF ${schema}.queue_stats
    FOR VALUES FROM ('2020-01-01 00:00:00+00') TO ('2020-01-02 00:00:00+00')`)
  await db.query(`INSERT INTO ${schema}.queue_stats (name, captured_on) VALUES ('old', '2020-01-01 12:00:00+00')`)
  const today = new Date().toISOString().slice(0, 10).replaceAll('-', '')
  await db.query(`DROP TABLE IF EXISTS ${schema}.queue_stats_${today}`)
  await ours.supervise()
  const { rows } = await db.query(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = '${schema}.queue_stats'::regclass ORDER BY 1`)
  const names = rows.map(r => r.relname)
  assert.ok(!names.includes('queue_stats_20200101'), names.join())
  assert.ok(names.includes(`queue_stats_${today}`), names.join())
  assert.equal(names.length, 2)
})

test('supervise deletes stored warnings older than warningRetentionDays', async () => {
  await db.query(`INSERT INTO ${schema}.warning (type, message, created_on) VALUES
    ('slow_query', 'old', now() - interval '40 days'), ('slow_query', 'recent', now() - interval '10 days')`)
  await ours.supervise()
  const { rows } = await db.query(`SELECT message FROM ${schema}.warning WHERE message IN ('old', 'recent')`)
  assert.deepEqual(rows.map(r => r.message), ['recent'])
})

test('stats and warning options are validated with pg-boss 12.38\'s messages', async () => {
  const { PgBoss: Reference } = await import('pg-boss')
  const cases = [
    { persistQueueStats: true, queueStatRetentionDays: 0 },
    { queueStatRetentionDays: 1.5 },
    { queueStatRetentionDays: 366 },
    { warningRetentionDays: 0 },
    { warningRetentionDays: 400 },
    { warningRetentionDays: '30' },
    { reindex: 'yes' },
    { reindex: null },
    { reindex: { minPages: -1 } },
    { reindex: { maxEntriesPerPage: 0 } },
    { reindex: { minSizeRatio: -0.5 } },
    { reindex: { maxIndexBytes: 1.5 } },
    { reindex: { force: true } },
    { reindexIntervalSeconds: 0.5 },
    { reindexIntervalSeconds: 86401 },
    { monitorVacuum: 'yes' }
  ]
  const construct = (Class, options) => outcome(() => new Class({ connectionString, ...options }))
  for (const options of cases) {
    const a = await construct(PgBoss, options)
    assert.equal(a.error, 'AssertionError', JSON.stringify(options))
    assert.deepEqual(a, await construct(Reference, options), JSON.stringify(options))
  }
  for (const options of [{ reindex: false, monitorVacuum: false, reindexIntervalSeconds: 60 }, { reindex: { minPages: 0, maxIndexBytes: 1024 } }]) {
    assert.ok((await construct(PgBoss, options)).ok instanceof PgBoss)
  }
})
