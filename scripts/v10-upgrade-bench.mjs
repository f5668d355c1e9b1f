// Measures the in-place upgrade of a pg-boss 10 schema holding many jobs (default 1,000,000):
// total time, the engine's timing of every transaction it ran (the first one, each batch, the
// last one), the longest transaction seen from outside (pg_stat_activity sampled every 50 ms),
// and the slowest send made to the new schema while the jobs were being moved.
//
//   DATABASE_URL=postgres://... node scripts/v10-upgrade-bench.mjs [jobs] [batchSize]
//
// The v10 schema is made by pg-boss 10.4.2 (the pgb104 devDependency) and filled with SQL
// generate_series straight into its tables (a million sends would take far longer than the
// upgrade): 10% created, 5% active, 65% completed, 20% archived, over four queues.
import { createRequire } from 'node:module'
import { PgBoss, upgradeFromV10 } from '../index.mjs'

const require = createRequire(import.meta.url)
const pg = require('pg')
const connectionString = process.env.DATABASE_URL
if (!connectionString) throw new Error('set DATABASE_URL')
const total = Number(process.argv[2] ?? 1_000_000)
const batchSize = Number(process.argv[3] ?? 10_000)
const schema = 'upg10_bench'
const queues = ['bench-standard', 'bench-short', 'bench-singleton', 'bench-stately']
const policies = ['standard', 'short', 'singleton', 'stately']

const db = new pg.Pool({ connectionString, max: 3 })
const ms = t => Math.round(performance.now() - t)

async function drop () {
  for (const s of [`${schema}_v10`, `${schema}_v46`, schema]) await db.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`)
}

async function fill () {
  await drop()
  const Old = require('pgb104')
  const old = new Old({ connectionString, schema, supervise: false, schedule: false })
  old.on('error', () => {})
  await old.start()
  for (let i = 0; i < queues.length; i++) await old.createQueue(queues[i], { policy: policies[i], retentionMinutes: 60 })
  await old.stop({ graceful: false, wait: true })
  const t = performance.now()
  const share = (p) => Math.round(total * p)
  // every row its own singleton key, so the policies' unique indexes do not get in the way
  const insert = async (table, state, n, completed) => {
    if (n <= 0) return
    await db.query(`
      INSERT INTO ${schema}.${table} (id, priority, retry_limit, retry_count, retry_delay, retry_backoff, start_after,
        expire_in, created_on, keep_until, name, singleton_key, data, state, started_on, completed_on, output)
      SELECT gen_random_uuid(), 0, 2, 0, 0, false, now() - interval '2 hours', interval '15 minutes',
             now() - interval '2 hours', now() + interval '14 days',
             ($1::text[])[1 + i % 4], '${table}-${state}-' || i, jsonb_build_object('i', i, 'pad', repeat('x', 40)), '${state}',
             ${state === 'created' ? 'NULL' : "now() - interval '1 hour'"},
             ${completed ? "now() - interval '30 minutes'" : 'NULL'},
             ${completed ? "jsonb_build_object('ok', true)" : 'NULL'}
      FROM generate_series(1, $2::int) i`, [queues, n])
  }
  // stately and singleton allow one active job per key: active ones go to the standard queue
  await insert('job', 'created', share(0.10), false)
  await db.query(`
    INSERT INTO ${schema}.job (name, data, state, started_on)
    SELECT 'bench-standard', jsonb_build_object('i', i), 'active', now() FROM generate_series(1, $1::int) i`, [share(0.05)])
  await insert('job', 'completed', share(0.65), true)
  await insert('archive', 'completed', total - share(0.10) - share(0.05) - share(0.65), true)
  await db.query(`ANALYZE ${schema}.job`)
  await db.query(`ANALYZE ${schema}.archive`)
  const { rows: [{ n }] } = await db.query(`SELECT (SELECT count(*) FROM ${schema}.job) + (SELECT count(*) FROM ${schema}.archive) AS n`)
  console.log(`filled ${n} v10 rows in ${ms(t)} ms`)
}

/** The longest transaction of the upgrade's sessions seen so far, sampled from pg_stat_activity. */
function sampleTransactions () {
  const sampler = new pg.Client({ connectionString })
  let longest = 0
  let stop = false
  const done = (async () => {
    await sampler.connect()
    while (!stop) {
      const { rows: [{ s }] } = await sampler.query(`
        SELECT COALESCE(max(EXTRACT(epoch FROM clock_timestamp() - xact_start)), 0) AS s FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
          AND query LIKE '%${schema}%'`)
      longest = Math.max(longest, Number(s) * 1000)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    await sampler.end()
  })()
  return { async end () { stop = true; await done; return Math.round(longest) } }
}

/** Sends to the new schema once it is there, timing each, until stopped. */
function sendDuring () {
  let stop = false
  const latencies = []
  const done = (async () => {
    for (;;) {
      const { rows } = await db.query(`SELECT version FROM ${schema}.version`).catch(() => ({ rows: [] }))
      if (stop) return
      if (rows[0]?.version === 46) break
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    const boss = new PgBoss({ connectionString, schema, migrate: false, supervise: false, schedule: false })
    boss.on('error', () => {})
    await boss.start()
    while (!stop) {
      const t = performance.now()
      await boss.send('bench-standard', { during: true })
      latencies.push(performance.now() - t)
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    await boss.stop({ graceful: false })
  })()
  return {
    async end () {
      stop = true
      await done
      latencies.sort((a, b) => a - b)
      return { sends: latencies.length, maxMs: Math.round(latencies.at(-1) ?? 0), p99Ms: Math.round(latencies[Math.floor(latencies.length * 0.99)] ?? 0) }
    }
  }
}

await fill()
const dry = await upgradeFromV10({ connectionString, schema }, { dryRun: true })
console.log(`dry run: ${dry.rowsToMove} rows to move`, JSON.stringify(dry.counts))
const sampler = sampleTransactions()
const sender = sendDuring()
const t = performance.now()
const report = await upgradeFromV10({ connectionString, schema }, { batchSize })
const totalMs = ms(t)
const sends = await sender.end()
const sampled = await sampler.end()
const { rows: [{ n }] } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.job`)
console.log(JSON.stringify({
  jobs: total,
  batchSize,
  totalMs,
  firstTransactionMs: Math.round(report.beginMs),
  lastTransactionMs: Math.round(report.finishMs ?? 0),
  batches: report.batches,
  longestTransactionMs: Math.round(report.longestTransactionMs),
  longestTransactionSampledMs: sampled,
  sendsDuringMove: sends,
  rowsIn46: n,
  finished: report.finished
}, null, 2))
await drop()
await db.end()
