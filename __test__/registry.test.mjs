// The instance registry: our row in <schema>.instance against the one pg-boss 12.38 writes for the
// same options, getInstances() both ways, heartbeats, stop(), validation and connection names.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss } from '../index.mjs'
import { connectionString, dropSchema, outcome, pool, startBoss, startPgBoss, waitFor } from './helpers.mjs'

const schema = 'pgbn_test_registry'
const { PgBoss: Reference } = await import('pg-boss')
const options = { instanceName: 'registry-svc', instanceHeartbeatSeconds: 1, max: 4 }
let ours, ref, db

before(async () => {
  await dropSchema(schema)
  ref = await startPgBoss(schema, options)
  ours = await startBoss(schema, options)
  db = pool()
})

after(async () => {
  await ours?.stop()
  await ref?.stop({ graceful: false })
  await db?.end()
  await dropSchema(schema)
})

const instanceRow = async id => (await db.query(`SELECT * FROM ${schema}.instance WHERE id = $1`, [id])).rows[0]

/** The application_name of a session of `boss`'s own pool. */
const sessionName = async boss => (await boss.getDb().executeSql("SELECT current_setting('application_name') AS name")).rows[0].name

/** The two live rows of the shared options: pg-boss's (started first) and ours. */
async function rowsByImplementation () {
  const { rows } = await db.query(`SELECT * FROM ${schema}.instance WHERE name = $1 AND stopped_on IS NULL ORDER BY started_on`, [options.instanceName])
  assert.equal(rows.length, 2)
  const [refRow, ourRow] = rows
  return { refRow, ourRow }
}

test('our row equals pg-boss 12.38\'s for the same options, column by column', async () => {
  const { refRow, ourRow } = await rowsByImplementation()
  // differ by nature: ids, process and time; the version is each package's own; pool counts
  // other than max move with use; metrics are each process's own sample (compared below)
  const natural = ['id', 'pid', 'started_on', 'heartbeat_on', 'application_name', 'version',
    'pool_total', 'pool_idle', 'pool_waiting', 'metrics']
  for (const column of Object.keys(refRow)) {
    if (natural.includes(column)) continue
    assert.deepEqual(ourRow[column], refRow[column], column)
  }
  assert.equal(ourRow.pid, process.pid)
  assert.equal(ourRow.application_name, `pgboss:${ourRow.id.slice(0, 8)}`)
  assert.equal(refRow.application_name, `pgboss:${refRow.id.slice(0, 8)}`)
  assert.equal(ourRow.pool_max, 4)
  // the same process, host and container: the same limits; a first sample has no CPU or loop figures
  assert.deepEqual(Object.keys(ourRow.metrics).sort(), Object.keys(refRow.metrics).sort())
  for (const key of ['cgroup', 'cpuLimit', 'memoryLimit', 'heapLimit', 'cpu', 'cpuThrottled', 'loopDelay', 'loopDelayMax', 'loopUtilization']) {
    assert.deepEqual(ourRow.metrics[key], refRow.metrics[key], `metrics.${key}`)
  }
  for (const key of ['rss', 'heapUsed']) assert.ok(ourRow.metrics[key] > 0 && refRow.metrics[key] > 0, `metrics.${key}`)
  assert.equal(ourRow.metrics.memoryUsed === null, refRow.metrics.memoryUsed === null, 'metrics.memoryUsed')
  assert.ok(Number.isInteger(ourRow.pool_total) && Number.isInteger(ourRow.pool_idle))
})

test('each lists the other in getInstances(), in the same shape', async () => {
  const { refRow, ourRow } = await rowsByImplementation()
  const fromOurs = await ours.getInstances()
  const fromRef = await ref.getInstances()
  assert.deepEqual(fromOurs.map(i => i.id), fromRef.map(i => i.id))
  assert.ok(fromOurs.some(i => i.id === refRow.id) && fromRef.some(i => i.id === ourRow.id))
  const mine = fromOurs.find(i => i.id === ourRow.id)
  const theirs = fromRef.find(i => i.id === ourRow.id)
  // heartbeats may land between the two reads
  const stable = ({ heartbeatOn, poolTotal, poolIdle, poolWaiting, ...rest }) => rest
  assert.deepEqual(stable(mine), stable(theirs))
  assert.deepEqual(Object.keys(mine), Object.keys(theirs))
  for (const key of ['startedOn', 'heartbeatOn']) assert.ok(mine[key] instanceof Date, key)
  assert.equal(mine.stoppedOn, null)
  assert.equal(mine.live, true)
})

test('getInstances() pages by id with limit and after', async () => {
  const all = await ours.getInstances()
  const first = await ours.getInstances({ limit: 1 })
  assert.deepEqual(first.map(i => i.id), [all[0].id])
  const rest = await ours.getInstances({ after: first[0].id })
  assert.deepEqual(rest.map(i => i.id), all.slice(1).map(i => i.id))
  const last = all[all.length - 1].id
  assert.deepEqual(await ours.getInstances({ after: last }), [])
})

test('getInstances() validates its options with pg-boss\'s messages', async () => {
  const cases = [{ limit: 0 }, { limit: 1.5 }, { limit: 100001 }, { limit: '5' }, { after: '' },
    { after: 5 }, { after: 'not-a-uuid' }, { after: '00000000-0000-4000-8000-000000000000' }]
  for (const c of cases) {
    assert.deepEqual(await outcome(() => ours.getInstances(c)), await outcome(() => ref.getInstances(c)), JSON.stringify(c))
  }
})

test('a heartbeat refreshes the row', async () => {
  const { ourRow } = await rowsByImplementation()
  await waitFor(async () => (await instanceRow(ourRow.id)).heartbeat_on > ourRow.heartbeat_on, { timeout: 5000 })
  const row = await instanceRow(ourRow.id)
  assert.equal(row.started_on.getTime(), ourRow.started_on.getTime())
  assert.equal(row.stopped_on, null)
  // a later sample measures CPU and the event loop since the one before
  assert.ok(row.metrics.cpu >= 0, JSON.stringify(row.metrics))
  assert.ok(row.metrics.loopUtilization >= 0 && row.metrics.loopUtilization <= 1, JSON.stringify(row.metrics))
})

test('constructor options are validated with pg-boss\'s messages', async () => {
  const cases = [{ instanceName: '' }, { instanceName: 5 }, { instanceHeartbeatSeconds: 0 },
    { instanceHeartbeatSeconds: 3601 }, { instanceHeartbeatSeconds: 1.5 }, { instanceHeartbeatSeconds: '10' },
    { instanceName: undefined, instanceHeartbeatSeconds: undefined, registerInstance: 'no' }]
  for (const c of cases) {
    const make = Impl => outcome(() => { new Impl({ connectionString, schema, ...c }); return 'constructed' })
    assert.deepEqual(await make(PgBoss), await make(Reference), JSON.stringify(c))
  }
})

test('the pool\'s connections are named pgboss:<id8>, or as the user names them', async () => {
  const { ourRow } = await rowsByImplementation()
  const names = async () => (await db.query('SELECT DISTINCT application_name FROM pg_stat_activity WHERE application_name LIKE \'pgboss%\' OR application_name = \'mine\'')).rows.map(r => r.application_name)
  assert.ok((await names()).includes(`pgboss:${ourRow.id.slice(0, 8)}`))
  assert.equal(await sessionName(ours), `pgboss:${ourRow.id.slice(0, 8)}`)
  const named = await startBoss(schema, { application_name: 'mine' })
  try {
    assert.equal(await sessionName(named), 'mine')
    const row = (await db.query(`SELECT * FROM ${schema}.instance WHERE application_name = 'mine'`)).rows[0]
    assert.ok(row && row.stopped_on === null)
  } finally {
    await named.stop()
  }
})

test('registerInstance: false writes no row and keeps the pgboss name', async () => {
  const before = (await db.query(`SELECT count(*)::int AS n FROM ${schema}.instance`)).rows[0].n
  const unregistered = await startBoss(schema, { registerInstance: false, instanceName: 'unregistered' })
  try {
    assert.equal((await db.query(`SELECT count(*)::int AS n FROM ${schema}.instance`)).rows[0].n, before)
    assert.equal(await sessionName(unregistered), 'pgboss')
  } finally {
    await unregistered.stop()
  }
})

test('stop() marks the row stopped, as pg-boss\'s does, and keeps it', async () => {
  const theirs = await startPgBoss(schema, { instanceName: 'stopping' })
  const mine = await startBoss(schema, { instanceName: 'stopping' })
  const rows = async () => (await db.query(`SELECT * FROM ${schema}.instance WHERE name = 'stopping' ORDER BY started_on`)).rows
  const [refId, ourId] = (await rows()).map(r => r.id)
  await theirs.stop()
  await mine.stop()
  const [refRow, ourRow] = await rows()
  assert.deepEqual([refRow.id, ourRow.id], [refId, ourId])
  assert.ok(refRow.stopped_on instanceof Date && ourRow.stopped_on instanceof Date)
  const listed = await ours.getInstances()
  assert.equal(listed.find(i => i.id === ourId).live, false)
  assert.equal(listed.find(i => i.id === refId).live, false)
})

test('isMaintaining() reads false with no supervise pass running, as in pg-boss', async () => {
  assert.equal(ours.isMaintaining(), ref.isMaintaining())
  await ours.supervise()
  await ref.supervise()
  assert.equal(ours.isMaintaining(), false)
  assert.equal(ref.isMaintaining(), false)
})
