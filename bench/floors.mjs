// The floors: what PostgreSQL itself takes for the same rows, from plain node-postgres, into the
// job table of a freshly installed pg-boss-native schema (bench_floor; the table, its partition,
// indexes and foreign keys are the sides' own). W1's floor is a bare single-row INSERT + commit,
// one at a time; W2's is one COPY FROM STDIN of the same 20,000 rows (pg-copy-streams).
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import copyStreams from 'pg-copy-streams'
import { jobCounts } from './measure.mjs'
import { QUEUE, freshInstance, measured, verify } from './workloads.mjs'

export const SCHEMA = 'bench_floor'

async function table (ctx) {
  const boss = await freshInstance(ctx) // installs the schema and creates the queue (retryLimit 0)
  await boss.stop({ graceful: false })
}

/** One INSERT + commit per job, one at a time (autocommit), the columns send() sets for these jobs. */
async function insertFloor (ctx) {
  await table(ctx)
  const n = ctx.n
  const sql = `INSERT INTO ${SCHEMA}.job (name, data, retry_limit) VALUES ($1, $2, 0)`
  const m = await measured(ctx, async () => {
    for (let i = 0; i < n; i++) await ctx.db.query({ name: 'floor_insert', text: sql, values: [QUEUE, { i }] })
  })
  const counts = await jobCounts(ctx.db, SCHEMA, QUEUE)
  return { ...m, n, rate: n / m.seconds, check: verify(counts, { created: n, total: n }) }
}

/** One COPY of all n rows (text format), in one transaction as COPY is. */
async function copyFloor (ctx) {
  await table(ctx)
  const n = ctx.n
  const lines = Array.from({ length: n }, (_, i) => `${QUEUE}\t{"i": ${i}}\t0\n`)
  const m = await measured(ctx, async () => {
    const stream = ctx.db.query(copyStreams.from(`COPY ${SCHEMA}.job (name, data, retry_limit) FROM STDIN`))
    await pipeline(Readable.from(lines), stream)
  })
  const counts = await jobCounts(ctx.db, SCHEMA, QUEUE)
  return { ...m, n, rate: n / m.seconds, check: verify(counts, { created: n, total: n }) }
}

/** Floor rows, by the workload they stand beside. */
export const FLOORS = {
  'W1-send-1': { title: 'floor: bare INSERT + commit, 1 at a time', run: insertFloor },
  'W2-insert': { title: 'floor: one COPY FROM STDIN of the same rows', run: copyFloor }
}
