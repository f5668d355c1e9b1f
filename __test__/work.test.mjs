// Workers: work(), perJobResults, workEach(), handler safety, stopping, heartbeats, metrics.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss, UnrecoverableError } from '../index.mjs'
import { connectionString, dropSchema, pool, sleep, waitFor } from './helpers.mjs'

const schema = 'pgbn_test_work'
let boss
let db

const poll = { pollingIntervalSeconds: 0.5 }

async function job (id) {
  const { rows } = await db.query(`SELECT * FROM ${schema}.job WHERE id = $1`, [id])
  return rows[0]
}

async function jobsOf (name) {
  const { rows } = await db.query(`SELECT * FROM ${schema}.job WHERE name = $1 ORDER BY (data->>'i')::int`, [name])
  return rows
}

async function settled (ids) {
  return waitFor(async () => {
    const { rows } = await db.query(`SELECT * FROM ${schema}.job WHERE id = ANY($1) AND state <> 'active' AND state <> 'created'`, [ids])
    return rows.length === ids.length ? rows : null
  })
}

before(async () => {
  await dropSchema(schema)
  db = pool()
  boss = new PgBoss({ connectionString, schema, supervise: false, schedule: false })
  boss.errors = []
  boss.on('error', err => boss.errors.push(err))
  await boss.start()
})

after(async () => {
  await boss.stop({ graceful: false })
  await dropSchema(schema)
  await db.end()
})

test('work(): a single-job batch stores the handler output; job.signal is an AbortSignal aborted after', async () => {
  await boss.createQueue('w-single')
  const id = await boss.send('w-single', { n: 1 })
  let signal
  await boss.work('w-single', poll, async ([j]) => {
    signal = j.signal
    assert.ok(j.signal instanceof AbortSignal)
    assert.equal(j.signal.aborted, false)
    assert.ok(j.createdOn === undefined, 'no metadata without includeMetadata')
    return { doubled: j.data.n * 2 }
  })
  const [row] = await settled([id])
  assert.equal(row.state, 'completed')
  assert.deepEqual(row.output, { doubled: 2 })
  await waitFor(() => signal?.aborted)
  await boss.offWork('w-single')
})

test('work(): multi-job batches store no output; a throw fails the whole batch with the error', async () => {
  await boss.createQueue('w-batch', { retryLimit: 0 })
  const ok = await boss.insert('w-batch', [{ data: { i: 1 } }, { data: { i: 2 } }, { data: { i: 3 } }], { returnId: true })
  await boss.work('w-batch', { ...poll, batchSize: 3, includeMetadata: true }, async jobs => {
    assert.equal(jobs.length, 3)
    assert.ok(jobs[0].createdOn instanceof Date)
    return 'ignored'
  })
  const rows = await settled(ok)
  assert.ok(rows.every(r => r.state === 'completed' && r.output === null))
  await boss.offWork('w-batch')

  await boss.createQueue('w-throw', { retryLimit: 0 })
  const bad = await boss.insert('w-throw', [{ data: { i: 1 } }, { data: { i: 2 } }], { returnId: true })
  await boss.work('w-throw', { ...poll, batchSize: 2 }, async () => { throw new Error('nope') })
  const failed = await settled(bad)
  for (const r of failed) {
    assert.equal(r.state, 'failed')
    assert.equal(r.output.message, 'nope')
    assert.equal(r.output.name, 'Error')
    assert.match(r.output.stack, /nope/)
  }
  await boss.offWork('w-throw')
})

test('perJobResults: each job settles on its own; missing ones fail; deadletter skips retries', async () => {
  await boss.createQueue('pjr-dlq')
  await boss.createQueue('pjr', { retryLimit: 2, deadLetter: 'pjr-dlq' })
  const ids = await boss.insert('pjr', [0, 1, 2, 3].map(i => ({ data: { i } })), { returnId: true })
  await boss.work('pjr', { ...poll, batchSize: 4, perJobResults: true }, async jobs => {
    const by = i => jobs.find(j => j.data.i === i)
    return [
      { id: by(0).id, status: 'completed', output: { ok: 0 } },
      { id: by(1).id, status: 'failed', output: { why: 1 } },
      { id: by(2).id, status: 'deadletter', output: new Error('poison') }
    ]
  })
  const rows = await settled(ids)
  const byI = Object.fromEntries(rows.map(r => [r.data.i, r]))
  assert.equal(byI[0].state, 'completed')
  assert.deepEqual(byI[0].output, { ok: 0 })
  assert.equal(byI[1].state, 'retry')
  assert.deepEqual(byI[1].output, { why: 1 })
  assert.equal(byI[2].state, 'failed')
  assert.equal(byI[2].output.message, 'poison')
  assert.equal(byI[3].state, 'retry')
  assert.equal(byI[3].output.message, 'no disposition returned by handler')
  const dlq = await waitFor(async () => (await jobsOf('pjr-dlq')).find(r => r.source_id === byI[2].id))
  assert.equal(dlq.state, 'created')
  await boss.offWork('pjr')
})

test('perJobResults: Promise.allSettled output completes and fails jobs by position', async () => {
  await boss.createQueue('settled', { retryLimit: 0 })
  const ids = await boss.insert('settled', [0, 1, 2].map(i => ({ data: { i } })), { returnId: true })
  await boss.work('settled', { ...poll, batchSize: 3, perJobResults: true }, async jobs =>
    Promise.allSettled(jobs.map(async j => {
      if (j.data.i === 1) throw new Error(`bad ${j.data.i}`)
      return { value: j.data.i }
    }))
  )
  const rows = await settled(ids)
  const byI = Object.fromEntries(rows.map(r => [r.data.i, r]))
  assert.equal(byI[0].state, 'completed')
  assert.deepEqual(byI[0].output, { value: 0 })
  assert.equal(byI[1].state, 'failed')
  assert.equal(byI[1].output.message, 'bad 1')
  assert.equal(byI[2].state, 'completed')
  await boss.offWork('settled')
})

test('perJobResults: an output that cannot be stored fails only its job, in both result shapes', async () => {
  await boss.createQueue('pjr-unser', { retryLimit: 0 })
  const ids = await boss.insert('pjr-unser', [0, 1, 2, 3].map(i => ({ data: { i } })), { returnId: true })
  const unstorable = { toJSON () { throw new Error('cannot') } }
  await boss.work('pjr-unser', { ...poll, batchSize: 4, perJobResults: true }, async jobs => {
    const by = i => jobs.find(j => j.data.i === i)
    return [
      { id: by(0).id, status: 'completed', output: unstorable },
      { id: by(1).id, status: 'completed', output: { ok: 1 } },
      { id: by(2).id, status: 'completed', output: 2 },
      { id: by(3).id, status: 'completed' }
    ]
  })
  const rows = await settled(ids)
  const byI = Object.fromEntries(rows.map(r => [r.data.i, r]))
  assert.equal(byI[0].state, 'failed')
  assert.match(byI[0].output.message, /could not be serialized: cannot/)
  assert.equal(byI[1].state, 'completed')
  assert.deepEqual(byI[1].output, { ok: 1 })
  assert.equal(byI[2].state, 'completed')
  assert.deepEqual(byI[2].output, { value: 2 })
  assert.equal(byI[3].state, 'completed')
  assert.equal(byI[3].output, null)
  await boss.offWork('pjr-unser')

  // Promise.allSettled output: the unstorable fulfilled value fails its job, by position
  await boss.createQueue('pjr-unser2', { retryLimit: 0 })
  const [id] = await boss.insert('pjr-unser2', [{ data: { i: 9 } }], { returnId: true })
  await boss.work('pjr-unser2', { ...poll, batchSize: 2, perJobResults: true }, async jobs =>
    Promise.allSettled(jobs.map(async () => unstorable)))
  const [row] = await settled([id])
  assert.equal(row.state, 'failed')
  assert.match(row.output.message, /could not be serialized: cannot/)
  await boss.offWork('pjr-unser2')
})

test('perJobResults: a non-array result fails the batch', async () => {
  await boss.createQueue('notarray', { retryLimit: 0 })
  const ids = await boss.insert('notarray', [{ data: { i: 0 } }, { data: { i: 1 } }], { returnId: true })
  await boss.work('notarray', { ...poll, batchSize: 2, perJobResults: true }, async () => ({ nope: true }))
  const rows = await settled(ids)
  for (const r of rows) assert.equal(r.output.message, 'perJobResults handler must resolve with an array of job results')
  await boss.offWork('notarray')
})

test('workEach: at most `concurrency` handlers run, and a slow job does not hold back the rest', async () => {
  await boss.createQueue('each')
  const ids = await boss.insert('each', [0, 1, 2, 3, 4, 5, 6, 7].map(i => ({ data: { i } })), { returnId: true })
  let inFlight = 0
  let maxInFlight = 0
  const finished = []
  await boss.workEach('each', { ...poll, batchSize: 4, concurrency: 2 }, async job => {
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    await sleep(job.data.i === 0 ? 1500 : 60)
    inFlight--
    finished.push(job.data.i)
    return { i: job.data.i }
  })
  const rows = await settled(ids)
  assert.ok(rows.every(r => r.state === 'completed' && r.output.i === r.data.i))
  assert.equal(maxInFlight, 2)
  // the slow job 0 finishes last although it was claimed first
  assert.equal(finished.at(-1), 0)
  await boss.offWork('each')
})

test('UnrecoverableError and retryable === false fail terminally and dead-letter', async () => {
  await boss.createQueue('unrec-dlq')
  await boss.createQueue('unrec', { retryLimit: 5, deadLetter: 'unrec-dlq' })
  const ids = await boss.insert('unrec', [0, 1, 2].map(i => ({ data: { i } })), { returnId: true })
  await boss.workEach('unrec', { ...poll, concurrency: 3 }, async job => {
    if (job.data.i === 0) throw new UnrecoverableError('fatal')
    if (job.data.i === 1) throw Object.assign(new Error('also fatal'), { retryable: false })
    throw new Error('transient')
  })
  const rows = await settled(ids)
  const byI = Object.fromEntries(rows.map(r => [r.data.i, r]))
  assert.equal(byI[0].state, 'failed')
  assert.equal(byI[0].output.name, 'UnrecoverableError')
  assert.equal(byI[1].state, 'failed')
  assert.equal(byI[2].state, 'retry')
  const dlq = await waitFor(async () => { const r = await jobsOf('unrec-dlq'); return r.length === 2 ? r : null })
  assert.deepEqual(new Set(dlq.map(r => r.source_id)), new Set([byI[0].id, byI[1].id]))
  await boss.offWork('unrec')
})

test('handler safety: sync throws, non-Error rejections and unserializable outputs fail only their job', async () => {
  await boss.createQueue('safety', { retryLimit: 0 })
  const ids = await boss.insert('safety', [0, 1, 2, 3, 4, 5].map(i => ({ data: { i } })), { returnId: true })
  await boss.workEach('safety', { ...poll, concurrency: 5 }, job => {
    switch (job.data.i) {
      case 0: throw new Error('sync throw')
      case 1: return Promise.reject('a string') // eslint-disable-line prefer-promise-reject-errors
      case 2: return { toJSON () { throw new Error('cannot') } }
      case 3: { const o = { a: 1 }; o.self = o; return o }
      case 5: return { big: 10n }
      default: return 'fine'
    }
  })
  const rows = await settled(ids)
  const byI = Object.fromEntries(rows.map(r => [r.data.i, r]))
  assert.equal(byI[0].state, 'failed')
  assert.equal(byI[0].output.message, 'sync throw')
  assert.equal(byI[1].state, 'failed')
  assert.deepEqual(byI[1].output, { value: 'a string' })
  assert.equal(byI[2].state, 'failed')
  assert.match(byI[2].output.message, /could not be serialized/)
  assert.equal(byI[3].state, 'completed')
  assert.equal(byI[3].output.self, '[Circular]')
  assert.equal(byI[4].state, 'completed')
  assert.deepEqual(byI[4].output, { value: 'fine' })
  // serialize-error (as in pg-boss) stores a BigInt as text
  assert.deepEqual(byI[5].output, { big: '10n' })
  await boss.offWork('safety')
})

test('a handler that never settles is failed at expiry and its signal aborted', async () => {
  await boss.createQueue('hang', { retryLimit: 0, expireInSeconds: 1 })
  const id = await boss.send('hang', {})
  let signal
  await boss.work('hang', poll, ([j]) => { signal = j.signal; return new Promise(() => {}) })
  const [row] = await settled([id])
  assert.equal(row.state, 'failed')
  assert.equal(row.output.message, 'handler execution exceeded 1s')
  await waitFor(() => signal?.aborted)
  await boss.offWork('hang', { wait: false })
})

test('heartbeats keep heartbeat_on fresh while the handler runs', async () => {
  await boss.createQueue('beat', { heartbeatSeconds: 10 })
  const id = await boss.send('beat', {})
  let release
  await boss.work('beat', { ...poll, heartbeatRefreshSeconds: 0.2 }, () => new Promise(resolve => { release = resolve }))
  const first = await waitFor(async () => { const r = await job(id); return r.state === 'active' ? r.heartbeat_on : null })
  await waitFor(async () => (await job(id)).heartbeat_on > first)
  release()
  await settled([id])
  await boss.offWork('beat')
})

test('getWipData, wip events, notifyWorker and offWork', async () => {
  await boss.createQueue('wip')
  let release
  const workId = await boss.work('wip', { pollingIntervalSeconds: 30 }, () => new Promise(resolve => { release = resolve }))
  const wipEvent = new Promise(resolve => boss.once('wip', resolve))
  await boss.send('wip', {})
  boss.notifyWorker(workId)
  const data = await waitFor(() => boss.getWipData().find(w => w.id === workId && w.count === 1))
  assert.equal(data.name, 'wip')
  assert.equal(data.options.pollingInterval, 30000)
  assert.equal(data.state, 'active')
  const event = await wipEvent
  assert.ok(Array.isArray(event) && event.some(w => w.id === workId))
  release()
  await boss.offWork('wip')
  assert.equal(boss.getWipData().find(w => w.id === workId), undefined)
})

test('metrics count fetched, completed, failed and retried jobs, also as Prometheus text', async () => {
  const metrics = boss.getMetrics()
  const each = metrics.queues.each
  assert.equal(each.fetched, 8)
  assert.equal(each.completed, 8)
  assert.equal(each.inFlight, 0)
  assert.ok(each.handlerLatencyMs.count >= 8 && each.handlerLatencyMs.p99 >= each.handlerLatencyMs.p50)
  assert.equal(metrics.queues.unrec.deadLettered, 2)
  // the transient job may be retried again before the worker stops
  assert.ok(metrics.queues.unrec.retried >= 1)
  const text = boss.getMetrics({ format: 'prometheus' })
  assert.match(text, /# TYPE pgboss_jobs_completed_total counter/)
  assert.match(text, /pgboss_jobs_completed_total\{queue="each",worker="[0-9a-f-]+"\} 8/)
  assert.match(text, /pgboss_handler_latency_seconds_count\{queue="each"/)
})

test('supervise() expires active jobs past expireInSeconds into retry', async () => {
  await boss.createQueue('expire', { expireInSeconds: 1, retryLimit: 1 })
  const id = await boss.send('expire', {})
  const [fetched] = await boss.fetch('expire')
  assert.equal(fetched.id, id)
  await sleep(1300)
  await db.query(`UPDATE ${schema}.queue SET monitor_claim_on = NULL, monitor_on = NULL WHERE name = 'expire'`)
  await boss.supervise('expire')
  const row = await job(id)
  assert.equal(row.state, 'retry')
  assert.deepEqual(row.output, { value: { message: 'job timed out' } })
})

test('groupConcurrency caps active jobs per group across the cluster, tiers included', async () => {
  await boss.createQueue('groups')
  const jobs = [
    ...[0, 1, 2, 3].map(i => ({ data: { i, g: 'a' }, group: { id: 'a' } })),
    ...[4, 5, 6, 7].map(i => ({ data: { i, g: 'b' }, group: { id: 'b', tier: 'vip' } }))
  ]
  const ids = await boss.insert('groups', jobs, { returnId: true })
  const active = { a: 0, b: 0 }
  const peak = { a: 0, b: 0 }
  await boss.work('groups', { ...poll, localConcurrency: 4, groupConcurrency: { default: 1, tiers: { vip: 2 } } }, async ([j]) => {
    const g = j.data.g
    active[g]++
    peak[g] = Math.max(peak[g], active[g])
    await sleep(150)
    active[g]--
  })
  const rows = await settled(ids)
  assert.ok(rows.every(r => r.state === 'completed'))
  assert.equal(peak.a, 1)
  assert.ok(peak.b <= 2, `vip tier peaked at ${peak.b}`)
  await boss.offWork('groups')
})

test('localGroupConcurrency caps in-process handlers per group and hands back the excess', async () => {
  await boss.createQueue('local-groups')
  const ids = await boss.insert('local-groups', [0, 1, 2, 3, 4, 5].map(i => ({ data: { i }, group: { id: 'same' } })), { returnId: true })
  let active = 0
  let peak = 0
  await boss.work('local-groups', { ...poll, localConcurrency: 4, batchSize: 2, localGroupConcurrency: 2 }, async batch => {
    active += batch.length
    peak = Math.max(peak, active)
    await sleep(150)
    active -= batch.length
  })
  const rows = await settled(ids)
  assert.ok(rows.every(r => r.state === 'completed'))
  assert.ok(peak <= 2, `peak ${peak}`)
  await boss.offWork('local-groups')
})

test('work() validates its arguments with pg-boss messages', async () => {
  await assert.rejects(boss.work(), { message: 'queue name is required' })
  await assert.rejects(boss.work('q', {}), { message: 'expected callback to be a function' })
  await assert.rejects(boss.work('w-single', { batchSize: 0 }, () => {}), { message: 'batchSize must be an integer > 0' })
  await assert.rejects(boss.work('w-single', { pollingIntervalSeconds: 0.1 }, () => {}), { message: 'configuration assert: pollingIntervalSeconds must be at least every 500ms' })
  await assert.rejects(boss.work('missing-queue', () => {}), { message: 'Queue missing-queue does not exist' })
})

test('stop() waits for handlers, then fails what is left and emits stopped; work() after stop throws', async () => {
  const other = new PgBoss({ connectionString, schema, supervise: false, schedule: false })
  other.on('error', () => {})
  await other.start()
  await other.createQueue('stopping', { retryLimit: 0 })
  const quick = await other.send('stopping', { i: 'quick' })
  await other.work('stopping', poll, async () => { await sleep(300); return 'done' })
  await waitFor(async () => (await job(quick)).state === 'active')
  const stopped = new Promise(resolve => other.once('stopped', resolve))
  await other.stop({ timeout: 5000 })
  await stopped
  assert.equal((await job(quick)).state, 'completed')

  const slow = new PgBoss({ connectionString, schema, supervise: false, schedule: false })
  slow.on('error', () => {})
  await slow.start()
  const hung = await slow.send('stopping', { i: 'hung' })
  await slow.work('stopping', poll, () => new Promise(() => {}))
  await waitFor(async () => (await job(hung)).state === 'active')
  await slow.stop({ timeout: 1000 })
  const row = await job(hung)
  assert.equal(row.state, 'failed')
  assert.deepEqual(row.output, { value: 'pg-boss shut down while active' })
  await assert.rejects(slow.work('stopping', () => {}), { message: 'Workers are disabled. pg-boss is stopped' })
})

/** Runs `fn` while every completion of queue `name` costs 2 ms on the server (far slower than claiming). */
async function withSlowCompletions (name, fn) {
  const tag = name.replace(/-/g, '_')
  await db.query(`CREATE FUNCTION ${schema}.slow_${tag}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.002); RETURN NEW; END $$`)
  await db.query(`CREATE TRIGGER slow_${tag} BEFORE UPDATE ON ${schema}.job_common FOR EACH ROW WHEN (NEW.state = 'completed' AND NEW.name = '${name}') EXECUTE FUNCTION ${schema}.slow_${tag}()`)
  try {
    await fn()
  } finally {
    await db.query(`DROP TRIGGER slow_${tag} ON ${schema}.job_common`)
  }
}

test('claims wait for write-backs: a slow database never lets a worker hoard the queue', async () => {
  await boss.createQueue('slow-settle')
  await boss.insert('slow-settle', Array.from({ length: 2000 }, (_, i) => ({ data: { i } })))
  await withSlowCompletions('slow-settle', async () => {
    await boss.work('slow-settle', { batchSize: 100, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 }, async () => {})
    let peak = 0
    for (let i = 0; i < 20; i++) {
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.job WHERE name = 'slow-settle' AND state = 'active'`)
      peak = Math.max(peak, rows[0].n)
      await sleep(100)
    }
    // one batch being handled and two being written back, at most
    assert.ok(peak <= 300, `peak of ${peak} active jobs`)
    await boss.offWork('slow-settle')
  })
})

test('workEach: claimed-but-unwritten jobs stay bounded by 4 × batchSize + concurrency with a slow database', async () => {
  await boss.createQueue('slow-each')
  await boss.insert('slow-each', Array.from({ length: 2000 }, (_, i) => ({ data: { i } })))
  await withSlowCompletions('slow-each', async () => {
    await boss.workEach('slow-each', { batchSize: 50, concurrency: 4, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 }, async () => {})
    let peak = 0
    let completed = 0
    for (let i = 0; i < 20; i++) {
      const { rows } = await db.query(`SELECT count(*) FILTER (WHERE state = 'active')::int AS a, count(*) FILTER (WHERE state = 'completed')::int AS c FROM ${schema}.job WHERE name = 'slow-each'`)
      peak = Math.max(peak, rows[0].a)
      completed = rows[0].c
      await sleep(100)
    }
    assert.ok(completed > 0, 'jobs are being completed')
    assert.ok(peak <= 204, `peak of ${peak} active jobs`)
    await boss.offWork('slow-each')
  })
})

test('workEach: offWork() hands buffered, never-started jobs back to the queue', async () => {
  await boss.createQueue('each-stop', { retryLimit: 0 })
  const ids = await boss.insert('each-stop', Array.from({ length: 20 }, (_, i) => ({ data: { i } })), { returnId: true })
  // as if pg-boss's upsert() had written them: a handed-back job must stop counting as upserted
  await db.query(`UPDATE ${schema}.job SET upsert_by_key = true, singleton_key = 'k' || (data->>'i') WHERE id = ANY($1)`, [ids])
  let started = 0
  await boss.workEach('each-stop', { ...poll, batchSize: 10, concurrency: 1 }, async () => {
    started++
    await sleep(300)
  })
  // the first job's handler sets the pace; then a batch is claimed ahead into the buffer
  await waitFor(async () => {
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.job WHERE id = ANY($1) AND state = 'active'`, [ids])
    return started >= 2 && rows[0].n >= 3
  })
  await boss.offWork('each-stop')
  const { rows } = await db.query(`SELECT state, retry_count, started_on, upsert_by_key FROM ${schema}.job WHERE id = ANY($1)`, [ids])
  const byState = rows.reduce((m, r) => ({ ...m, [r.state]: (m[r.state] ?? 0) + 1 }), {})
  assert.equal(byState.active, undefined, `no job left active: ${JSON.stringify(byState)}`)
  assert.equal(byState.completed, started)
  assert.equal(byState.created, 20 - started)
  const created = rows.filter(r => r.state === 'created')
  // handed back unstarted: the next claim is still the first attempt
  assert.ok(created.every(r => r.retry_count === 0 && r.started_on === null))
  // the handed-back ones (claimed, never run) no longer count as upserted; the rest were never claimed
  const handedBack = created.filter(r => r.upsert_by_key === null)
  assert.ok(handedBack.length >= 1, 'some jobs were handed back from the buffer')
  assert.ok(created.every(r => r.upsert_by_key === null || r.upsert_by_key === true))
  // what went back is no longer counted in flight
  assert.equal(boss.getMetrics().queues['each-stop'].inFlight, 0)
})

test('localConcurrency loops share one settler: every job settles once and per-worker metrics add up', async () => {
  await boss.createQueue('loops', { retryLimit: 0 })
  const ids = await boss.insert('loops', Array.from({ length: 60 }, (_, i) => ({ data: { i } })), { returnId: true })
  const workId = await boss.work('loops', { ...poll, batchSize: 1, localConcurrency: 4 }, async ([job]) => {
    if (job.data.i % 10 === 0) throw new Error('tenth')
    return { i: job.data.i }
  })
  const rows = await settled(ids)
  assert.equal(rows.filter(r => r.state === 'completed').length, 54)
  assert.ok(rows.filter(r => r.state === 'completed').every(r => r.output.i === r.data.i))
  assert.equal(rows.filter(r => r.state === 'failed').length, 6)
  await boss.offWork('loops')
  const { queues } = boss.getMetrics()
  const q = queues.loops
  assert.equal(q.completed, 54)
  assert.equal(q.failed, 6)
  const workers = Object.values(q.workers)
  assert.equal(workers.length, 4)
  assert.ok(Object.keys(q.workers).includes(workId))
  assert.equal(workers.reduce((n, w) => n + w.completed, 0), 54)
  assert.equal(workers.reduce((n, w) => n + w.failed, 0), 6)
  assert.equal(q.inFlight, 0)
})

/** Runs `fn(log)` while every update of queue `name`'s jobs is logged to table `log` as (id, new state, transaction id). */
async function withTransactionLog (name, fn) {
  const tag = `${name.replace(/-/g, '_')}_log`
  const log = `${schema}.${tag}`
  await db.query(`CREATE TABLE ${log} (id uuid, state text, tx bigint)`)
  await db.query(`CREATE FUNCTION ${log}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO ${log} VALUES (NEW.id, NEW.state::text, txid_current()); RETURN NEW; END $$`)
  await db.query(`CREATE TRIGGER ${tag} AFTER UPDATE ON ${schema}.job_common FOR EACH ROW WHEN (NEW.name = '${name}') EXECUTE FUNCTION ${log}()`)
  try {
    await fn(log)
  } finally {
    await db.query(`DROP TRIGGER ${tag} ON ${schema}.job_common`)
  }
}

test('a bursting loop completes its batch in the statement that claims the next one', async () => {
  await boss.createQueue('carry', { retryLimit: 0 })
  const ids = await boss.insert('carry', Array.from({ length: 40 }, (_, i) => ({ data: { i } })), { returnId: true })
  await withTransactionLog('carry', async (log) => {
    await boss.work('carry', { ...poll, batchSize: 4, burstWhenBatchFull: true }, async jobs => jobs.length)
    const rows = await settled(ids)
    assert.ok(rows.every(r => r.state === 'completed'))
    const { rows: shared } = await db.query(`SELECT count(DISTINCT c.tx)::int AS n FROM ${log} c JOIN ${log} a ON a.tx = c.tx AND a.state = 'active' WHERE c.state = 'completed'`)
    // 10 batches: each of the first 9 is completed by the claim of the next
    assert.ok(shared[0].n >= 8, `${shared[0].n} completions shared a claim's transaction`)
    await boss.offWork('carry')
    const q = boss.getMetrics().queues.carry
    assert.equal(q.completed, 40)
    assert.equal(q.inFlight, 0)
  })
})

test('loops sharing a claim bring their completed batches to it: one statement completes them all and claims again', async () => {
  await boss.createQueue('carry-shared', { retryLimit: 0 })
  const ids = await boss.insert('carry-shared', Array.from({ length: 80 }, (_, i) => ({ data: { i } })), { returnId: true })
  await withTransactionLog('carry-shared', async (log) => {
    const handled = new Map()
    await boss.work('carry-shared', { ...poll, batchSize: 2, localConcurrency: 4, burstWhenBatchFull: true }, async jobs => {
      for (const job of jobs) handled.set(job.id, (handled.get(job.id) ?? 0) + 1)
      await sleep(1) // the loops come back at about the same time
    })
    const rows = await settled(ids)
    assert.ok(rows.every(r => r.state === 'completed'))
    assert.ok([...handled.values()].every(n => n === 1), 'every job handled once')
    const { rows: [tx] } = await db.query(`
      SELECT count(*)::int AS carried, max(n)::int AS most FROM (
        SELECT c.tx, count(*) AS n FROM ${log} c
        WHERE c.state = 'completed' AND EXISTS (SELECT 1 FROM ${log} a WHERE a.tx = c.tx AND a.state = 'active')
        GROUP BY c.tx) t`)
    assert.ok(tx.carried >= 10, `${tx.carried} claims completed earlier batches`)
    assert.ok(tx.most > 2, `one claim completed the batches of several loops (most in one: ${tx.most})`)
    await boss.offWork('carry-shared')
    const q = boss.getMetrics().queues['carry-shared']
    assert.equal(q.completed, 80)
    assert.equal(q.inFlight, 0)
    assert.equal(Object.values(q.workers).reduce((n, w) => n + w.completed, 0), 80)
  })
})

test('job.signal made on first read: one signal per batch, aborted when read after the handler settled', async () => {
  await boss.createQueue('w-signal')
  await boss.insert('w-signal', [{ data: { n: 1 } }, { data: { n: 2 } }])
  let kept
  let sameSignal
  await boss.work('w-signal', { ...poll, batchSize: 2 }, async jobs => {
    kept = jobs
    sameSignal = jobs[0].signal === jobs[1].signal && jobs[0].signal === jobs[0].signal
    assert.ok(Object.keys(jobs[1]).includes('signal'))
  })
  await waitFor(() => kept)
  await boss.offWork('w-signal')
  assert.equal(sameSignal, true)
  // the second job's signal was never read by the handler; read now, it is already aborted
  assert.ok(kept[1].signal instanceof AbortSignal)
  assert.equal(kept[1].signal.aborted, true)
  assert.equal(kept[1].signal.reason.message, 'handler settled')
})

test('workEach: buffered jobs wait no longer than a quarter of their expiry window for a handler', async () => {
  await boss.createQueue('each-pace', { expireInSeconds: 2, retryLimit: 0 })
  const ids = await boss.insert('each-pace', Array.from({ length: 6 }, (_, i) => ({ data: { i } })), { returnId: true })
  const startedAt = new Map()
  await boss.workEach('each-pace', { ...poll, batchSize: 6, concurrency: 1 }, async job => {
    startedAt.set(job.id, Date.now())
    await sleep(300)
  })
  const rows = await settled(ids)
  await boss.offWork('each-pace')
  assert.ok(rows.every(r => r.state === 'completed'))
  // claimed all at once, the last would wait 1.5 s of its 2 s; paced, each waits about one handler
  for (const r of rows) {
    const waited = startedAt.get(r.id) - r.started_on.getTime()
    assert.ok(waited < 900, `job ${r.data.i} waited ${waited} ms in the buffer`)
  }
})

test('stop() in the middle of fast drains leaves no job active: carried completions, shared settles and workEach buffers are all written', async () => {
  const other = new PgBoss({ connectionString, schema, supervise: false, schedule: false })
  other.on('error', () => {})
  await other.start()
  const queues = { 'stop-carry': { batchSize: 2 }, 'stop-batch': { batchSize: 50 }, 'stop-loops': { batchSize: 1, localConcurrency: 4 }, 'stop-each': { batchSize: 20, concurrency: 4 } }
  for (const name of Object.keys(queues)) {
    await other.createQueue(name, { retryLimit: 0 })
    await other.insert(name, Array.from({ length: 3000 }, (_, i) => ({ data: { i } })))
  }
  let handled = 0
  for (const [name, o] of Object.entries(queues)) {
    const options = { ...poll, burstWhenBatchFull: true, ...o }
    if (name === 'stop-each') await other.workEach(name, options, async () => { handled++ })
    else await other.work(name, options, async jobs => { handled += jobs.length })
  }
  await waitFor(() => handled > 1500)
  await other.stop({ timeout: 10000 })
  const { rows } = await db.query(`SELECT name, state, count(*)::int AS n FROM ${schema}.job WHERE name LIKE 'stop-%' GROUP BY 1, 2 ORDER BY 1, 2`)
  assert.deepEqual(rows.filter(r => r.state !== 'completed' && r.state !== 'created'), [], JSON.stringify(rows))
  for (const name of Object.keys(queues)) {
    assert.ok(rows.some(r => r.name === name && r.state === 'completed'), `${name} completed some jobs`)
  }
})
