// Connecting wherever node-postgres connects: TLS with every way pg 8.x takes its settings (an
// `ssl` object, a connection string's sslmode and sslrootcert/sslcert/sslkey, PGSSLMODE), client
// certificates, TLS versions, password functions and unix sockets. Each server is a throwaway one
// started here (./support/pg-server.mjs) with the pg_hba.conf the tests need.
//
// The expected behaviour is pg-boss 12.38's: `PGBN_IMPL=pg-boss node --test __test__/tls.test.mjs`
// runs these tests against it.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import tls from 'node:tls'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { startServer } from './support/pg-server.mjs'

const implEntry = process.env.PGBN_IMPL === 'pg-boss' ? import.meta.resolve('pg-boss') : new URL('../index.mjs', import.meta.url).href
const { PgBoss } = await import(implEntry)

// node-postgres falls back to these; every test here says what it connects with instead.
for (const name of ['PGSSLMODE', 'PGSSLNEGOTIATION', 'PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE', 'PGPASSWORD', 'PGAPPNAME']) delete process.env[name]

const schema = 'pgbn_test_tls'
const TIMEOUT = 30000

// The words node's TLS layer uses when it cannot build a chain to a trusted root.
const UNTRUSTED = /self[- ]signed|not trusted|unable to verify|unable to get local issuer|unknown ca|issuer/i
const HOST_MISMATCH = /altnames|host ?name|not valid for|does not match/i
const NO_ENCRYPTION = /pg_hba\.conf|SSL off|no encryption/i

let appCount = 0
/** An application_name no other connection uses, to find one instance's backends by. */
const uniqueApp = () => `pgbn_tls_${process.pid}_${++appCount}`

function newBoss (options) {
  const boss = new PgBoss({ schema, supervise: false, schedule: false, ...options })
  boss.errors = []
  boss.on('error', err => boss.errors.push(err))
  return boss
}

/** Starts an instance, runs `fn` with it, and stops it whatever happens. */
async function withBoss (options, fn) {
  const boss = newBoss(options)
  try {
    await boss.start()
    return await fn(boss)
  } finally {
    await boss.stop({ graceful: false }).catch(() => {})
  }
}

/**
 * start() must fail: returns its error. The instance is stopped afterwards in case it did not.
 * A setting found unusable before connecting may already be refused by the constructor (ours
 * checks certificates and keys there; node-postgres first reads them at connect).
 */
async function refusedStart (options) {
  let boss
  try {
    boss = newBoss({ connectionTimeoutMillis: 5000, ...options })
  } catch (err) {
    return err
  }
  try {
    await boss.start()
  } catch (err) {
    return err
  } finally {
    await boss.stop({ graceful: false }).catch(() => {})
  }
  assert.fail('start() succeeded where it should have been refused')
}

/** Sends one job and works it; resolves once the database has it completed. */
async function sendAndWork (server, boss, queue = 'tls-q') {
  await boss.createQueue(queue)
  const id = await boss.send(queue, { hello: 'tls' })
  assert.ok(id, 'send() returned no id')
  let handled
  const done = new Promise(resolve => { handled = resolve })
  await boss.work(queue, { pollingIntervalSeconds: 0.5 }, async ([job]) => handled(job.id))
  assert.equal(await done, id)
  await waitFor(async () => (await server.query(`SELECT state FROM ${schema}.job WHERE id = $1`, [id])).rows[0]?.state === 'completed')
  return id
}

/** Creates a queue (if need be) and sends a job to it. */
async function sendOne (boss, queue = 'tls-q') {
  await boss.createQueue(queue)
  const id = await boss.send(queue, {})
  assert.ok(id, 'send() returned no id')
  return id
}

/** This instance's backends as pg_stat_ssl sees them. */
async function backends (server, app) {
  const { rows } = await server.query(
    `SELECT a.pid, a.query, a.client_addr, s.ssl, s.version, s.client_dn
       FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
      WHERE a.application_name = $1`, [app])
  return rows
}

async function assertAllEncrypted (server, app, { version, clientDn } = {}) {
  const rows = await backends(server, app)
  assert.ok(rows.length >= 1, 'the instance has no backend')
  for (const row of rows) {
    assert.equal(row.ssl, true, `backend ${row.pid} (${row.query}) is not encrypted`)
    if (version) assert.equal(row.version, version, `backend ${row.pid} negotiated ${row.version}`)
    if (clientDn) assert.equal(row.client_dn, clientDn, `backend ${row.pid} presented ${row.client_dn}`)
  }
  return rows
}

async function waitFor (fn, { timeout = 15000, every = 100 } = {}) {
  const until = Date.now() + timeout
  for (;;) {
    const value = await fn()
    if (value) return value
    if (Date.now() > until) throw new Error('timed out waiting')
    await new Promise(resolve => setTimeout(resolve, every))
  }
}

describe('a TLS-only server (hostssl for TCP, nothing else) sending only its own certificate', () => {
  let server, certs
  const at = (host = 'localhost') => ({ host, port: server.port, user: 'postgres', database: 'postgres' })

  before(async () => {
    server = await startServer({ ssl: true, clientCa: false, hba: ['hostssl all all all trust'] })
    certs = server.certs
  })
  after(() => server?.stop())

  test('ssl { ca } to localhost (verify-full) starts, sends and works a job, with every backend encrypted, the LISTEN one too', { timeout: TIMEOUT }, async t => {
    const app = uniqueApp()
    await withBoss({ ...at(), ssl: { ca: certs.ca }, application_name: app, useListenNotify: true }, async boss => {
      await sendAndWork(server, boss)
      const rows = await assertAllEncrypted(server, app)
      t.diagnostic(`backends: ${rows.map(r => `${r.pid} ${r.version} ${r.query.slice(0, 40)}`).join(' | ')}`)
      assert.ok(rows.length >= 2, `expected pool and LISTEN backends, saw ${rows.length}`)
      assert.ok(rows.some(r => /^\s*LISTEN\b/i.test(r.query)), 'no backend is the LISTEN connection')
    })
  })

  test('connectionString ?sslmode=verify-full&sslrootcert=<file> starts, sends and works a job, encrypted', { timeout: TIMEOUT }, async () => {
    const app = uniqueApp()
    const connectionString = server.url({ sslmode: 'verify-full', sslrootcert: certs.caFile })
    await withBoss({ connectionString, application_name: app }, async boss => {
      await sendAndWork(server, boss)
      await assertAllEncrypted(server, app)
    })
  })

  test('ssl { ca, servername: "localhost" } verifies the certificate against that name while connecting to 127.0.0.1', { timeout: TIMEOUT }, async () => {
    const app = uniqueApp()
    await withBoss({ ...at('127.0.0.1'), ssl: { ca: certs.ca, servername: 'localhost' }, application_name: app }, async boss => {
      await sendOne(boss)
      await assertAllEncrypted(server, app)
    })
  })

  test('ssl.checkServerIdentity decides the host check: called with the name and the certificate, after the chain is verified', { timeout: TIMEOUT }, async () => {
    const seen = []
    const app = uniqueApp()
    // connecting to 127.0.0.1, which the certificate does not name: the function accepts it
    const accept = (host, cert) => { seen.push({ host, cn: cert.subject.CN, altnames: cert.subjectaltname }) }
    await withBoss({ ...at('127.0.0.1'), ssl: { ca: certs.ca, checkServerIdentity: accept }, application_name: app }, async boss => {
      await sendOne(boss)
      await assertAllEncrypted(server, app)
    })
    assert.ok(seen.length >= 1)
    assert.deepEqual(seen[0], { host: '127.0.0.1', cn: 'pgbn-test-server', altnames: 'DNS:localhost' })
    // what it returns refuses the connection, with its message and code
    const refuse = () => Object.assign(new Error('not our database'), { code: 'EPINNED' })
    const err = await refusedStart({ ...at(), ssl: { ca: certs.ca, checkServerIdentity: refuse } })
    assert.match(err.message, /not our database/)
    assert.equal(err.code, 'EPINNED')
    // Node's own check gives Node's answer
    const nodes = await refusedStart({ ...at('127.0.0.1'), ssl: { ca: certs.ca, checkServerIdentity: tls.checkServerIdentity } })
    assert.equal(nodes.code, 'ERR_TLS_CERT_ALTNAME_INVALID')
    assert.match(nodes.message, /Hostname\/IP does not match certificate's altnames/)
    // and a certificate the CA did not sign is refused before it is asked
    let asked = false
    const untrusted = await refusedStart({ ...at(), ssl: { ca: certs.wrongCa, checkServerIdentity: () => { asked = true } } })
    assert.match(untrusted.message, UNTRUSTED)
    assert.equal(asked, false)
  })

  for (const [form, ca] of [
    ['a PEM string', () => certs.ca],
    ['a Buffer', () => Buffer.from(certs.ca)],
    ['an array [wrong CA, CA]', () => [certs.wrongCa, certs.ca]]
  ]) {
    test(`ssl.ca given as ${form} is trusted`, { timeout: TIMEOUT }, async () => {
      const app = uniqueApp()
      await withBoss({ ...at(), ssl: { ca: ca() }, application_name: app }, async boss => {
        await boss.createQueue('ca-forms')
        assert.ok(await boss.send('ca-forms', {}))
        await assertAllEncrypted(server, app)
      })
    })
  }

  test('a certificate signed by a CA other than ssl.ca: start() rejects, saying it is not trusted', { timeout: TIMEOUT }, async t => {
    const err = await refusedStart({ ...at(), ssl: { ca: certs.wrongCa } })
    t.diagnostic(`wrong CA: ${err.code} ${err.message}`)
    assert.match(err.message, UNTRUSTED)
    assert.equal(err.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  })

  test('a script whose start() was refused for an untrusted certificate exits on its own', { timeout: TIMEOUT }, async t => {
    const source = `
      import { readFileSync } from 'node:fs'
      const { PgBoss } = await import(process.env.PGBN_ENTRY)
      const boss = new PgBoss({ host: 'localhost', port: Number(process.env.PGBN_PORT), user: 'postgres', database: 'postgres',
        ssl: { ca: readFileSync(process.env.PGBN_CA, 'utf8') }, schema: '${schema}', supervise: false, schedule: false })
      boss.on('error', () => {})
      try {
        await boss.start()
        console.log('started')
      } catch (err) {
        console.log('refused: ' + err.message)
      }
    `
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], {
      env: { ...process.env, PGBN_ENTRY: implEntry, PGBN_PORT: String(server.port), PGBN_CA: certs.wrongCaFile },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let output = ''
    child.stdout.on('data', d => { output += d })
    child.stderr.on('data', d => { output += d })
    const exited = new Promise(resolve => child.on('exit', code => resolve({ code })))
    let timer
    const result = await Promise.race([exited, new Promise(resolve => { timer = setTimeout(() => resolve({ timedOut: true }), 20000) })])
    clearTimeout(timer)
    if (result.timedOut) child.kill('SIGKILL')
    t.diagnostic(output.trim())
    assert.notEqual(result.timedOut, true, `the script did not exit after its refused start(): ${output}`)
    assert.match(output, /refused: /)
    assert.match(output, UNTRUSTED)
    assert.equal(result.code, 0, output)
  })

  test('connecting to 127.0.0.1, a name the certificate does not carry: start() rejects, naming the mismatch', { timeout: TIMEOUT }, async t => {
    const err = await refusedStart({ ...at('127.0.0.1'), ssl: { ca: certs.ca } })
    t.diagnostic(`host mismatch: ${err.code} ${err.message}`)
    assert.match(err.message, HOST_MISMATCH)
    assert.equal(err.code, 'ERR_TLS_CERT_ALTNAME_INVALID')
  })

  test('no ssl option: the TLS-only server refuses with its pg_hba.conf message', { timeout: TIMEOUT }, async t => {
    const err = await refusedStart(at())
    t.diagnostic(`no ssl: ${err.code} ${err.message}`)
    assert.match(err.message, NO_ENCRYPTION)
  })

  test('ssl: false: the TLS-only server refuses with its pg_hba.conf message', { timeout: TIMEOUT }, async t => {
    const err = await refusedStart({ ...at(), ssl: false })
    t.diagnostic(`ssl false: ${err.code} ${err.message}`)
    assert.match(err.message, NO_ENCRYPTION)
  })

  test('ssl: true verifies against the system roots, which do not include the test CA: start() rejects', { timeout: TIMEOUT }, async t => {
    const err = await refusedStart({ ...at(), ssl: true })
    t.diagnostic(`ssl true: ${err.code} ${err.message}`)
    assert.match(err.message, UNTRUSTED)
  })

  test('ssl { rejectUnauthorized: false } connects without verifying, encrypted', { timeout: TIMEOUT }, async () => {
    const app = uniqueApp()
    await withBoss({ ...at('127.0.0.1'), ssl: { rejectUnauthorized: false }, application_name: app }, async boss => {
      await sendOne(boss)
      await assertAllEncrypted(server, app)
    })
  })

  test('connectionString ?sslmode=no-verify connects without verifying, encrypted', { timeout: TIMEOUT }, async () => {
    const app = uniqueApp()
    await withBoss({ connectionString: server.url({ sslmode: 'no-verify' }, { host: '127.0.0.1' }), application_name: app }, async boss => {
      await sendOne(boss)
      await assertAllEncrypted(server, app)
    })
  })

  test('connectionString ?sslmode=require without uselibpqcompat means verify-full: an untrusted CA is rejected', { timeout: TIMEOUT }, async t => {
    const err = await refusedStart({ connectionString: server.url({ sslmode: 'require' }) })
    t.diagnostic(`sslmode=require: ${err.code} ${err.message}`)
    assert.match(err.message, UNTRUSTED)
  })

  test('connectionString ?uselibpqcompat=true&sslmode=require encrypts without verifying', { timeout: TIMEOUT }, async () => {
    const app = uniqueApp()
    await withBoss({ connectionString: server.url({ uselibpqcompat: 'true', sslmode: 'require' }, { host: '127.0.0.1' }), application_name: app }, async boss => {
      await sendOne(boss)
      await assertAllEncrypted(server, app)
    })
  })

  test('connectionString ?uselibpqcompat=true&sslmode=verify-ca checks the chain but not the host name', { timeout: TIMEOUT }, async () => {
    const app = uniqueApp()
    const connectionString = server.url({ uselibpqcompat: 'true', sslmode: 'verify-ca', sslrootcert: certs.caFile }, { host: '127.0.0.1' })
    await withBoss({ connectionString, application_name: app }, async boss => {
      await sendOne(boss)
      await assertAllEncrypted(server, app)
    })
  })

  test('connectionString ?uselibpqcompat=true&sslmode=verify-ca with the wrong CA is rejected', { timeout: TIMEOUT }, async t => {
    const connectionString = server.url({ uselibpqcompat: 'true', sslmode: 'verify-ca', sslrootcert: certs.wrongCaFile }, { host: '127.0.0.1' })
    const err = await refusedStart({ connectionString })
    t.diagnostic(`verify-ca, wrong CA: ${err.code} ${err.message}`)
    assert.match(err.message, UNTRUSTED)
  })

  test('connectionString ?sslmode=disable: the TLS-only server refuses with its pg_hba.conf message', { timeout: TIMEOUT }, async t => {
    const err = await refusedStart({ connectionString: server.url({ sslmode: 'disable' }) })
    t.diagnostic(`sslmode=disable: ${err.code} ${err.message}`)
    assert.match(err.message, NO_ENCRYPTION)
  })

  test('PGSSLMODE=no-verify in the environment, no ssl option: connects encrypted', { timeout: TIMEOUT }, async () => {
    const app = uniqueApp()
    const saved = process.env.PGSSLMODE
    process.env.PGSSLMODE = 'no-verify'
    try {
      await withBoss({ ...at('127.0.0.1'), application_name: app }, async boss => {
        await sendOne(boss)
        await assertAllEncrypted(server, app)
      })
    } finally {
      if (saved === undefined) delete process.env.PGSSLMODE
      else process.env.PGSSLMODE = saved
    }
  })

  test('ssl { minVersion: "TLSv1.3" } connects over TLS 1.3', { timeout: TIMEOUT }, async () => {
    const app = uniqueApp()
    await withBoss({ ...at(), ssl: { ca: certs.ca, minVersion: 'TLSv1.3' }, application_name: app }, async boss => {
      await sendOne(boss)
      await assertAllEncrypted(server, app, { version: 'TLSv1.3' })
    })
  })

  test('ssl { maxVersion: "TLSv1.2" } connects over TLS 1.2', { timeout: TIMEOUT }, async () => {
    const app = uniqueApp()
    await withBoss({ ...at(), ssl: { ca: certs.ca, maxVersion: 'TLSv1.2' }, application_name: app }, async boss => {
      await sendOne(boss)
      await assertAllEncrypted(server, app, { version: 'TLSv1.2' })
    })
  })

  test('host: <socket directory> connects over the unix socket', { timeout: TIMEOUT }, async () => {
    const app = uniqueApp()
    await withBoss({ host: server.socketDir, port: server.port, user: 'postgres', database: 'postgres', application_name: app }, async boss => {
      await sendOne(boss)
      const rows = await backends(server, app)
      assert.ok(rows.length >= 1, 'the instance has no backend')
      for (const row of rows) assert.equal(row.client_addr, null, 'a backend came over TCP')
    })
  })

  test('connectionString postgres://postgres@/postgres?host=<socket directory> connects over the unix socket', { timeout: TIMEOUT }, async () => {
    const app = uniqueApp()
    const connectionString = `postgres://postgres@/postgres?host=${encodeURIComponent(server.socketDir)}&port=${server.port}`
    await withBoss({ connectionString, application_name: app }, async boss => {
      await sendOne(boss)
      const rows = await backends(server, app)
      assert.ok(rows.length >= 1, 'the instance has no backend')
      for (const row of rows) assert.equal(row.client_addr, null, 'a backend came over TCP')
    })
  })

  test('connectionString socket://postgres@<socket directory>?db=postgres connects over the unix socket', { timeout: TIMEOUT }, async () => {
    const app = uniqueApp()
    const connectionString = `socket://postgres@${server.socketDir}?db=postgres&port=${server.port}`
    await withBoss({ connectionString, application_name: app }, async boss => {
      await sendOne(boss)
      const rows = await backends(server, app)
      assert.ok(rows.length >= 1, 'the instance has no backend')
      for (const row of rows) assert.equal(row.client_addr, null, 'a backend came over TCP')
    })
  })
})

describe('a server that demands a client certificate (hostssl ... trust clientcert=verify-full)', () => {
  let server, certs
  const at = () => ({ host: 'localhost', port: server.port, user: 'postgres', database: 'postgres' })

  before(async () => {
    server = await startServer({ ssl: true, hba: ['hostssl all all all trust clientcert=verify-full'] })
    certs = server.certs
  })
  after(() => server?.stop())

  test('ssl { ca, cert, key } is accepted', { timeout: TIMEOUT }, async () => {
    const app = uniqueApp()
    await withBoss({ ...at(), ssl: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey }, application_name: app }, async boss => {
      await sendAndWork(server, boss)
      await assertAllEncrypted(server, app, { clientDn: '/CN=postgres' })
    })
  })

  test('connectionString ?sslcert=<file>&sslkey=<file>&sslrootcert=<file> is accepted', { timeout: TIMEOUT }, async () => {
    const app = uniqueApp()
    const connectionString = server.url({ sslmode: 'verify-full', sslrootcert: certs.caFile, sslcert: certs.clientCertFile, sslkey: certs.clientKeyFile })
    await withBoss({ connectionString, application_name: app }, async boss => {
      await sendOne(boss)
      await assertAllEncrypted(server, app, { clientDn: '/CN=postgres' })
    })
  })

  test('an encrypted PKCS#8 key with its passphrase is accepted', { timeout: TIMEOUT }, async () => {
    const app = uniqueApp()
    const ssl = { ca: certs.ca, cert: certs.clientCert, key: certs.clientKeyEncrypted, passphrase: certs.passphrase }
    await withBoss({ ...at(), ssl, application_name: app }, async boss => {
      await sendOne(boss)
      await assertAllEncrypted(server, app, { clientDn: '/CN=postgres' })
    })
  })

  test('an encrypted key without its passphrase: start() rejects', { timeout: TIMEOUT }, async t => {
    const err = await refusedStart({ ...at(), ssl: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKeyEncrypted } })
    t.diagnostic(`encrypted key, no passphrase: ${err.code} ${err.message}`)
    assert.match(err.message, /passphrase|decrypt|bad password|key/i)
  })

  test('its chain, which includes its CA, checked against a CA other than ssl.ca: start() rejects, saying it is not trusted', { timeout: TIMEOUT }, async t => {
    const err = await refusedStart({ ...at(), ssl: { ca: certs.wrongCa, cert: certs.clientCert, key: certs.clientKey } })
    t.diagnostic(`wrong CA, whole chain sent: ${err.code} ${err.message}`)
    assert.match(err.message, UNTRUSTED)
    assert.equal(err.code, 'SELF_SIGNED_CERT_IN_CHAIN')
  })

  test('without a client certificate the server refuses, with its message', { timeout: TIMEOUT }, async t => {
    const err = await refusedStart({ ...at(), ssl: { ca: certs.ca } })
    t.diagnostic(`no client cert: ${err.code} ${err.message}`)
    assert.match(err.message, /client certificate/i)
  })
})

describe('password functions (a role with a scram-sha-256 password)', () => {
  const role = 'pgbn_pw'
  const secret = 'pgbn-secret-pw'
  let server
  const at = () => ({ host: 'localhost', port: server.port, user: role, database: 'postgres' })

  before(async () => {
    server = await startServer({ hba: ['host all all all scram-sha-256'] })
    await server.createRole(role, secret)
  })
  after(() => server?.stop())

  /** Backends the server authorized for the role, from its log (one `connection authorized` line each). */
  const authorizedPids = () => new Set([...server.log().matchAll(new RegExp(`\\[(\\d+)\\] LOG:  connection authorized: user=${role} `, 'g'))].map(m => m[1]))

  test('an async password function is called once for every connection the instance opens', { timeout: TIMEOUT }, async t => {
    const before = authorizedPids()
    let calls = 0
    const password = async () => { calls++; return secret }
    await withBoss({ ...at(), password, max: 4, application_name: uniqueApp() }, async boss => {
      await boss.createQueue('pw-q')
      // enough concurrent statements that the pool opens several connections
      await Promise.all(Array.from({ length: 40 }, (_, i) => boss.send('pw-q', { i })))
      await Promise.all(Array.from({ length: 8 }, () => boss.fetch('pw-q', { batchSize: 5 })))
    })
    const opened = [...authorizedPids()].filter(pid => !before.has(pid)).length
    t.diagnostic(`password calls: ${calls}, backends opened: ${opened}`)
    assert.ok(opened >= 2, `expected several connections, the server authorized ${opened}`)
    assert.equal(calls, opened)
  })

  test('a sync password function returning a string is used', { timeout: TIMEOUT }, async () => {
    let calls = 0
    await withBoss({ ...at(), password: () => { calls++; return secret }, application_name: uniqueApp() }, async boss => {
      await boss.createQueue('pw-sync')
      assert.ok(await boss.send('pw-sync', {}))
    })
    assert.ok(calls >= 1)
  })

  test('with no password given, the password file (PGPASSFILE) supplies it, as node-postgres reads it', { timeout: TIMEOUT }, async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pgbn-pgpass-')), 'pgpass')
    writeFileSync(file, `# comment\nother:*:*:*:nope\nlocalhost:${server.port}:postgres:${role}:${secret}\n`, { mode: 0o600 })
    const saved = process.env.PGPASSFILE
    process.env.PGPASSFILE = file
    try {
      await withBoss({ ...at(), application_name: uniqueApp() }, async boss => {
        await boss.createQueue('pw-file')
        assert.ok(await boss.send('pw-file', {}))
      })
    } finally {
      if (saved === undefined) delete process.env.PGPASSFILE
      else process.env.PGPASSFILE = saved
      rmSync(dirname(file), { recursive: true, force: true })
    }
  })

  test('a wrong password: start() rejects with the server\'s authentication failure', { timeout: TIMEOUT }, async t => {
    const err = await refusedStart({ ...at(), password: 'not-the-password' })
    t.diagnostic(`wrong password: ${err.code} ${err.message}`)
    assert.match(err.message, /password authentication failed/i)
  })
})
