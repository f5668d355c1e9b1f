// Connection settings that reach the server or shape the pool: session timeouts and `options`
// arrive as the session's settings, `query_timeout` stops waiting for a reply, the pool closes idle
// and used-up connections as pg-pool does, and getDb().pool counts them as node-postgres does.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { PgBoss } from '../index.mjs'
import { connectionString, dropSchema, sleep, startPgBoss, waitFor } from './helpers.mjs'

const schema = 'pgbn_test_connection'
after(() => dropSchema(schema))

async function withBoss (options, fn) {
  const boss = new PgBoss({ connectionString, schema, supervise: false, schedule: false, ...options })
  boss.on('error', () => {})
  await boss.start()
  try {
    return await fn(boss)
  } finally {
    await boss.stop({ graceful: false })
  }
}

const sql = async (boss, text) => (await boss.getDb().executeSql(text)).rows[0]

test('statement_timeout, lock_timeout, idle_in_transaction_session_timeout and options reach every session', async () => {
  const options = {
    statement_timeout: 4000,
    lock_timeout: 300,
    idle_in_transaction_session_timeout: 60000,
    options: '-c work_mem=5MB',
    application_name: 'pgbn-connection-test'
  }
  await withBoss(options, async boss => {
    const row = await sql(boss, `SELECT current_setting('statement_timeout') AS statement, current_setting('lock_timeout') AS lock,
      current_setting('idle_in_transaction_session_timeout') AS idle, current_setting('work_mem') AS work_mem,
      current_setting('application_name') AS app`)
    assert.deepEqual(row, { statement: '4s', lock: '300ms', idle: '1min', work_mem: '5MB', app: 'pgbn-connection-test' })
  })
})

test('a statement_timeout in the connection string cancels a slow statement with the server\'s error', async () => {
  const url = new URL(connectionString)
  url.searchParams.set('statement_timeout', '200')
  await withBoss({ connectionString: url.toString() }, async boss => {
    await assert.rejects(sql(boss, 'SELECT pg_sleep(2)'), err => err.code === '57014' && /statement timeout/.test(err.message))
  })
})

test('query_timeout: a reply that takes longer is no longer awaited ("Query read timeout", as node-postgres)', async () => {
  await withBoss({ query_timeout: 200 }, async boss => {
    const started = Date.now()
    await assert.rejects(sql(boss, 'SELECT pg_sleep(1.5)'), /Query read timeout/)
    assert.ok(Date.now() - started < 1400)
    // the pool goes on serving statements
    assert.deepEqual(await sql(boss, 'SELECT 1 AS one'), { one: 1 })
  })
})

test('getDb().pool counts connections as node-postgres does: total, idle, waiting', async () => {
  await withBoss({ max: 3 }, async boss => {
    const pool = boss.getDb().pool
    await Promise.all([1, 2, 3].map(() => sql(boss, 'SELECT pg_sleep(0.2)')))
    assert.equal(pool.totalCount, 3)
    assert.equal(pool.idleCount, 3)
    assert.equal(pool.waitingCount, 0)
    const busy = Promise.all([1, 2, 3, 4, 5].map(() => sql(boss, 'SELECT pg_sleep(0.3)')))
    await sleep(100)
    assert.equal(pool.idleCount, 0)
    assert.equal(pool.waitingCount, 2)
    await busy
  })
  // the same members, and types, as pg-boss's pool
  const ref = await startPgBoss(schema)
  try {
    const pool = ref.getDb().pool
    for (const key of ['totalCount', 'idleCount', 'waitingCount']) assert.equal(typeof pool[key], 'number')
  } finally {
    await ref.stop({ graceful: false })
  }
})

test('idleTimeoutMillis: connections idle that long are closed (min kept)', async () => {
  await withBoss({ max: 4, min: 1, idleTimeoutMillis: 300 }, async boss => {
    const pool = boss.getDb().pool
    await Promise.all([1, 2, 3, 4].map(() => sql(boss, 'SELECT pg_sleep(0.1)')))
    assert.equal(pool.totalCount, 4)
    await waitFor(() => pool.totalCount === 1, { timeout: 5000 })
    await sleep(600)
    assert.equal(pool.totalCount, 1)
  })
})

test('maxUses: a connection is replaced after that many checkouts', async () => {
  await withBoss({ max: 1, maxUses: 3 }, async boss => {
    const pids = []
    for (let i = 0; i < 8; i++) pids.push((await sql(boss, 'SELECT pg_backend_pid() AS pid')).pid)
    // start() used the first connection too; every later one serves three checkouts
    const later = pids.slice(pids.lastIndexOf(pids[0]) + 1)
    const uses = [...new Set(later)].map(pid => later.filter(p => p === pid).length)
    assert.deepEqual(uses.slice(0, -1), uses.slice(0, -1).map(() => 3), `backends: ${pids}`)
    assert.ok(uses.length >= 2 && uses.at(-1) <= 3, `backends: ${pids}`)
  })
})

/** The kernel's timer on this instance's client socket (`ss -o`), found by the session's client port. */
async function socketTimer (boss) {
  const { port } = await sql(boss, 'SELECT inet_client_port() AS port')
  const out = execFileSync('ss', ['-tnoH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' })
  // (ss prints the seconds left with a unit that varies by version: "6.9sec", "6.9ms")
  return out.match(/timer:\((\w+),([\d.]+)/)
}

test('keepAlive turns TCP keepalive on with keepAliveInitialDelayMillis as its idle time (off by default, as node-postgres)', { skip: !hasSs() && 'needs ss (iproute2)' }, async () => {
  const host = { connectionString: connectionString.replace('localhost', '127.0.0.1') }
  await withBoss({ ...host, keepAlive: true, keepAliveInitialDelayMillis: 7000 }, async boss => {
    const timer = await socketTimer(boss)
    assert.ok(timer, 'no timer on the socket')
    assert.equal(timer[1], 'keepalive')
    const seconds = Number(timer[2])
    assert.ok(seconds > 3 && seconds <= 7, `keepalive idle ${timer[0]}`)
  })
  await withBoss(host, async boss => {
    // (a retransmission or other timer may show; a keepalive one must not)
    assert.notEqual((await socketTimer(boss))?.[1], 'keepalive')
  })
})

function hasSs () {
  try {
    execFileSync('ss', ['-V'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
