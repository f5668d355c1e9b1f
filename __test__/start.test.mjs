// start({ attempts }): the option checked as pg-boss 12.38 words it, a failing start tried again
// with one warning, stop() ending the wait between tries, and a failed start leaving nothing that
// keeps the process alive.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { PgBoss } from '../index.mjs'
import { connectionString, dropSchema, entry, outcome, runScript, startBoth, stopBoth } from './helpers.mjs'

const schema = 'pgbn_test_start'
const options = { schema, supervise: false, schedule: false }

before(() => dropSchema(schema))
after(() => dropSchema(schema))

/** A local port nothing listens on (it did a moment ago, so no one else holds it). */
async function closedPort () {
  const server = net.createServer()
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise(resolve => server.close(resolve))
  return port
}

/** The test database's connection string with 127.0.0.1:`port` as its address. */
function via (port) {
  const url = new URL(connectionString)
  url.hostname = '127.0.0.1'
  url.port = String(port)
  return url.toString()
}

/** From now on `port` answers: a TCP forwarder to the test database. */
async function comeUp (port) {
  const target = new URL(connectionString)
  const sockets = new Set()
  const server = net.createServer(client => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname || 'localhost')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => sockets.delete(s))
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise(resolve => server.listen(port, '127.0.0.1', resolve))
  return () => {
    for (const s of sockets) s.destroy()
    return new Promise(resolve => server.close(resolve))
  }
}

async function reference () {
  return (await import('pg-boss')).PgBoss
}

/** An instance of `Boss` whose database is not there, with its warnings collected. */
function unreachable (Boss, port) {
  const boss = new Boss({ connectionString: via(port), ...options })
  boss.warnings = []
  boss.on('warning', warning => boss.warnings.push(warning))
  boss.on('error', () => {})
  return boss
}

test('start() refuses attempts that are not an integer of 1 or more, with pg-boss 12.38\'s error', async () => {
  const Reference = await reference()
  for (const attempts of [0, -1, 1.5, '3', null, NaN, Infinity, true, {}]) {
    const ours = await outcome(() => new PgBoss({ connectionString, ...options }).start({ attempts }))
    const theirs = await outcome(() => new Reference({ connectionString, ...options }).start({ attempts }))
    assert.deepEqual(ours, theirs, `attempts: ${String(attempts)}`)
    assert.deepEqual(ours, { error: 'AssertionError', code: 'ERR_ASSERTION', message: 'start() attempts must be an integer of 1 or more' })
  }
})

test('a started instance checks attempts too, and start() with valid attempts returns it', async () => {
  const both = await startBoth(schema)
  try {
    assert.deepEqual(await outcome(() => both.ours.start({ attempts: 0 })), await outcome(() => both.ref.start({ attempts: 0 })))
    assert.equal(await both.ours.start({ attempts: 2 }), both.ours)
    assert.equal(await both.ours.start({ attempts: undefined }), both.ours)
  } finally {
    await stopBoth(both)
  }
})

test('start({ attempts: 3 }) with no database there tries 3 times, warns once, then fails with the connection error', async () => {
  const port = await closedPort()
  const run = async Boss => {
    const boss = unreachable(Boss, port)
    const began = Date.now()
    const result = await outcome(() => boss.start({ attempts: 3 }))
    return { result, warnings: boss.warnings, seconds: (Date.now() - began) / 1000 }
  }
  const [ours, theirs] = await Promise.all([run(PgBoss), run(await reference())])
  for (const { result, warnings, seconds } of [ours, theirs]) {
    assert.equal(result.error, 'Error')
    // 1 s, then 2 s, between the three tries; none after the last
    assert.ok(seconds >= 2.9 && seconds < 6, `took ${seconds} s`)
    assert.deepEqual(warnings, [{
      message: `start() failed and will try again, up to 2 more times: ${result.message}`,
      data: { type: 'start_retry', attempts: 3, error: result.message }
    }])
  }
  assert.match(ours.result.message, /refused/i)
})

test('a database that answers during the wait: start() succeeds on a later try', async () => {
  const port = await closedPort()
  const boss = unreachable(PgBoss, port)
  const warned = new Promise(resolve => boss.once('warning', resolve))
  const starting = boss.start({ attempts: 5 })
  await warned
  const goDown = await comeUp(port)
  try {
    assert.equal(await starting, boss)
    assert.equal(await boss.isInstalled(), true)
    assert.equal(boss.warnings.length, 1)
  } finally {
    await boss.stop({ graceful: false })
    await goDown()
  }
})

test('stop() during the wait between tries ends start() at once with its last error', async () => {
  const port = await closedPort()
  const run = async Boss => {
    const boss = unreachable(Boss, port)
    const warned = new Promise(resolve => boss.once('warning', resolve))
    const starting = outcome(() => boss.start({ attempts: 10 }))
    const warning = await warned
    const stoppedAt = Date.now()
    await boss.stop()
    const result = await starting
    return { result, warning, ms: Date.now() - stoppedAt }
  }
  const [ours, theirs] = await Promise.all([run(PgBoss), run(await reference())])
  for (const { result, warning, ms } of [ours, theirs]) {
    // the wait was 1 s, and 9 more tries were left
    assert.ok(ms < 500, `start() ended ${ms} ms after stop()`)
    assert.equal(result.error, 'Error')
    assert.equal(result.message, warning.data.error)
  }
})

/** A child process's outcome, or `timedOut` when it is still running after `ms`. */
async function exitWithin (script, ms) {
  const { child, exited } = runScript(script)
  let timer
  const timeout = new Promise(resolve => { timer = setTimeout(resolve, ms, { timedOut: true }) })
  const result = await Promise.race([exited, timeout])
  clearTimeout(timer)
  if (result.timedOut) child.kill('SIGKILL')
  return result
}

test('a start that fails after its attempts leaves the process free to exit', async () => {
  const port = await closedPort()
  const result = await exitWithin(`
    import { PgBoss } from ${JSON.stringify(entry)}
    const boss = new PgBoss({ connectionString: ${JSON.stringify(via(port))}, schema: '${schema}' })
    boss.on('error', () => {})
    boss.on('warning', w => console.log('warning:', w.data.type))
    await boss.start({ attempts: 2 }).catch(err => console.log('failed:', err.message))
  `, 15000)
  assert.notEqual(result.timedOut, true, 'the process did not exit after start() failed')
  assert.equal(result.code, 0, result.output)
  assert.match(result.output, /warning: start_retry\nfailed: .*refused/i)
})

test('a start ended by stop() during its wait leaves the process free to exit', async () => {
  const port = await closedPort()
  const result = await exitWithin(`
    import { PgBoss } from ${JSON.stringify(entry)}
    const boss = new PgBoss({ connectionString: ${JSON.stringify(via(port))}, schema: '${schema}' })
    boss.on('error', () => {})
    boss.once('warning', () => boss.stop())
    await boss.start({ attempts: 100 }).catch(err => console.log('failed:', err.message))
  `, 15000)
  assert.notEqual(result.timedOut, true, 'the process did not exit after stop()')
  assert.equal(result.code, 0, result.output)
  assert.match(result.output, /failed: .*refused/i)
})
