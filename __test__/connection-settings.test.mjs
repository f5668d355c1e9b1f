// Connection settings: for the same constructor options, connection strings and PG* variables,
// the native engine resolves what node-postgres 8.x (which pg-boss hands its options to) resolves,
// and refuses, at construction, the node-postgres options it cannot honour.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PgBoss } from '../index.mjs'

const require = createRequire(import.meta.url)
const native = require('../lib/native.js')
const { configJson } = require('../lib/convert.js')
const ConnectionParameters = require('pg/lib/connection-parameters.js')

const dir = mkdtempSync(join(tmpdir(), 'pgbn-settings-'))
// real certificates, since the engine parses what it is given at construction
function selfSigned (name) {
  const cert = join(dir, `${name}.pem`)
  const key = join(dir, `${name}.key`)
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', `/CN=${name}`, '-days', '2', '-keyout', key, '-out', cert], { stdio: 'ignore' })
  return { file: cert, pem: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') }
}
const ca = selfSigned('ca')
const other = selfSigned('other')
const caFile = ca.file
test.after(() => rmSync(dir, { recursive: true, force: true }))

/** Ours, as the engine resolved it. */
function ours (options) {
  return JSON.parse(native.resolvedConnection(configJson(options)))
}

const text = v => (v === undefined || v === null ? null : Buffer.isBuffer(v) ? v.toString() : String(v))
const texts = v => (v === undefined || v === null ? null : [].concat(v).map(text))

/** node-postgres's, after pg-boss's own defaults, in the shape `ours` reports. */
function theirs (options) {
  const config = { ...options }
  config.application_name = config.application_name || 'pgboss'
  const p = new ConnectionParameters(config)
  let tls = null
  if (p.ssl) {
    const ssl = typeof p.ssl === 'object' ? p.ssl : {}
    tls = {
      verifyChain: ssl.rejectUnauthorized !== false && process.env.NODE_TLS_REJECT_UNAUTHORIZED !== '0',
      verifyHost: typeof ssl.checkServerIdentity !== 'function',
      ca: texts(ssl.ca),
      cert: text(ssl.cert),
      key: ssl.key ? text(ssl.key).length : null,
      servername: ssl.servername ?? null,
      direct: p.sslnegotiation === 'direct'
    }
  }
  const ms = v => (v ? parseInt(v, 10) : null)
  return {
    host: p.host,
    port: p.port,
    user: p.user ?? null,
    database: p.database ?? null,
    password: typeof p.password === 'function' ? 'function' : p.password ? { text: p.password.length } : null,
    application_name: p.application_name ?? null,
    options: p.options ?? null,
    statement_timeout: ms(p.statement_timeout),
    lock_timeout: ms(p.lock_timeout),
    idle_in_transaction_session_timeout: ms(p.idle_in_transaction_session_timeout),
    query_timeout: ms(p.query_timeout),
    tls
  }
}

function comparable (resolved) {
  const { keepalive, max, idleTimeoutMillis, connectionTimeoutMillis, ...rest } = resolved
  return rest
}

/** Runs `fn` with these PG* variables set (and every other PG* variable unset). */
function withEnv (vars, fn) {
  const saved = {}
  for (const key of Object.keys(process.env)) {
    if (/^PG/.test(key) || key === 'NODE_TLS_REJECT_UNAUTHORIZED') { saved[key] = process.env[key]; delete process.env[key] }
  }
  Object.assign(process.env, vars)
  try {
    return fn()
  } finally {
    for (const key of Object.keys(vars)) delete process.env[key]
    Object.assign(process.env, saved)
  }
}

const cases = [
  ['options only', {}, { host: 'db.internal', port: 6000, user: 'ann', database: 'app', password: 'pw' }],
  ['nothing at all', {}, {}],
  ['PG* variables', { PGHOST: 'envhost', PGPORT: '7000', PGUSER: 'envuser', PGDATABASE: 'envdb', PGPASSWORD: 'envpw', PGOPTIONS: '-c work_mem=8MB' }, {}],
  ['options beat PG* variables', { PGHOST: 'envhost', PGUSER: 'envuser' }, { host: 'opthost', user: 'optuser' }],
  ['a URL', {}, { connectionString: 'postgres://ann:s%40cret@db.example.com:6543/my%20db' }],
  ['a URL replaces options beside it, even with its empty parts', { PGHOST: 'envhost' }, { connectionString: 'postgres:///app', host: 'opthost', port: 1234, user: 'optuser', password: 'optpw' }],
  ['URL parameters', {}, { connectionString: 'postgres://h/db?application_name=worker&options=-c%20search_path%3Dx&statement_timeout=5000&lock_timeout=100&idle_in_transaction_session_timeout=60000&query_timeout=3000' }],
  ['session timeouts as options', {}, { statement_timeout: 5000, lock_timeout: 200, idle_in_transaction_session_timeout: 1000, query_timeout: 250 }],
  ['an application name', {}, { application_name: 'billing' }],
  ['a unix socket directory', {}, { host: '/var/run/postgresql', database: 'x' }],
  ['a socket in the URL host parameter', {}, { connectionString: 'postgres://u@/db?host=/tmp/sock' }],
  ['an encoded socket host', {}, { connectionString: 'postgres://u@%2Fvar%2Frun%2Fpostgresql/db' }],
  ['socket: URLs', {}, { connectionString: 'socket:/var/run/postgresql?db=app&encoding=utf8' }],
  ['a socket path and database', {}, { connectionString: '/var/run/postgresql app' }],
  ['an IPv6 host', {}, { connectionString: 'postgres://u@[::1]:5433/db' }],
  ['a password function', {}, { password: async () => 'x' }],
  ['ssl true', {}, { ssl: true }],
  ['ssl false', { PGSSLMODE: 'require' }, { ssl: false }],
  ['ssl object', {}, { ssl: { rejectUnauthorized: false, servername: 'db.example.com' } }],
  ['ssl ca Buffer and array', {}, { ssl: { ca: [Buffer.from(ca.pem), other.pem], cert: Buffer.from(other.pem), key: other.key } }],
  ['PGSSLMODE require', { PGSSLMODE: 'require' }, {}],
  ['PGSSLMODE no-verify', { PGSSLMODE: 'no-verify' }, {}],
  ['PGSSLMODE disable', { PGSSLMODE: 'disable' }, {}],
  ['NODE_TLS_REJECT_UNAUTHORIZED=0', { NODE_TLS_REJECT_UNAUTHORIZED: '0' }, { ssl: true }],
  ['sslmode=disable', {}, { connectionString: 'postgres://h/db?sslmode=disable', ssl: true }],
  ['sslmode=prefer', {}, { connectionString: 'postgres://h/db?sslmode=prefer' }],
  ['sslmode=require', {}, { connectionString: 'postgres://h/db?sslmode=require' }],
  ['sslmode=verify-ca', {}, { connectionString: 'postgres://h/db?sslmode=verify-ca' }],
  ['sslmode=verify-full', {}, { connectionString: 'postgres://h/db?sslmode=verify-full' }],
  ['sslmode=no-verify', {}, { connectionString: 'postgres://h/db?sslmode=no-verify' }],
  ['ssl=true in the URL', {}, { connectionString: 'postgres://h/db?ssl=true' }],
  ['ssl=0 in the URL', {}, { connectionString: 'postgres://h/db?ssl=0', ssl: true }],
  ['ssl=no-verify in the URL', {}, { connectionString: 'postgres://h/db?ssl=no-verify' }],
  ['a URL without ssl parameters keeps the ssl option', {}, { connectionString: 'postgres://h/db', ssl: { rejectUnauthorized: false } }],
  ['sslrootcert', {}, { connectionString: `postgres://h/db?sslrootcert=${caFile}` }],
  ['libpq require', {}, { connectionString: 'postgres://h/db?uselibpqcompat=true&sslmode=require' }],
  ['libpq require with a root', {}, { connectionString: `postgres://h/db?uselibpqcompat=true&sslmode=require&sslrootcert=${caFile}` }],
  ['libpq prefer', {}, { connectionString: 'postgres://h/db?uselibpqcompat=true&sslmode=prefer' }],
  ['libpq verify-ca', {}, { connectionString: `postgres://h/db?uselibpqcompat=true&sslmode=verify-ca&sslrootcert=${caFile}` }],
  ['libpq verify-full', {}, { connectionString: 'postgres://h/db?uselibpqcompat=true&sslmode=verify-full' }],
  ['libpq no-verify is not a libpq mode', {}, { connectionString: 'postgres://h/db?uselibpqcompat=true&sslmode=no-verify' }],
  ['direct TLS negotiation', {}, { connectionString: 'postgres://h/db?sslnegotiation=direct' }]
]

for (const [name, env, options] of cases) {
  test(`settings match node-postgres: ${name}`, () => {
    withEnv(env, () => assert.deepStrictEqual(comparable(ours(options)), theirs(options)))
  })
}

test('pool settings follow pg-pool and pg-boss defaults', () => {
  const defaults = ours({})
  assert.equal(defaults.max, 10)
  assert.equal(defaults.idleTimeoutMillis, 10000)
  assert.equal(defaults.connectionTimeoutMillis, 10000)
  assert.equal(defaults.keepalive, null)
  const set = ours({ max: 3, idleTimeoutMillis: 0, connectionTimeoutMillis: 0, keepAlive: true, keepAliveInitialDelayMillis: 5000 })
  assert.deepEqual([set.max, set.idleTimeoutMillis, set.connectionTimeoutMillis, set.keepalive], [3, null, null, 5000])
})

test('node-postgres options that cannot be honoured are refused at construction', () => {
  const refusals = [
    [{ ssl: { pfx: Buffer.from('x') } }, /ssl\.pfx is not supported/],
    [{ ssl: { ciphers: 'HIGH' } }, /ssl\.ciphers is not supported/],
    [{ ssl: { maxVersion: 'TLSv1.1' } }, /maxVersion below TLSv1\.2/],
    [{ ssl: { ca: 'not a certificate' } }, /ssl\.ca holds no PEM certificate/],
    [{ types: { getTypeParser: () => {} } }, /types is not supported/],
    [{ stream: () => {} }, /stream is not supported/],
    [{ client_encoding: 'LATIN1' }, /client_encoding LATIN1 is not supported/],
    [{ binary: true }, /binary is not supported/],
    [{ replication: 'database' }, /replication connections are not supported/],
    [{ enableChannelBinding: true }, /enableChannelBinding/],
    [{ sslnegotiation: 'fast' }, /Invalid sslnegotiation value: "fast"/],
    [{ connectionString: 'postgres://h/db?sslnegotiation=direct&sslmode=disable' }, /sslnegotiation=direct requires SSL to be enabled/],
    [{ connectionString: 'postgres://h/db?sslcert=/nonexistent/client.crt' }, /cannot read sslcert file \/nonexistent\/client\.crt/],
    [{ connectionString: 'postgres://h/db?uselibpqcompat=true&sslmode=verify-ca' }, /verify-ca requires specifying a CA with sslrootcert/],
    [{ port: 'abc' }, /port must be a number/]
  ]
  for (const [options, message] of refusals) {
    assert.throws(() => new PgBoss({ ...options, schema: 'pgbn_test_settings' }), err => err.name === 'AssertionError' && message.test(err.message), `${JSON.stringify(Object.keys(options))} -> ${message}`)
  }
})

test('with a caller db the connection options are not read, as in pg-boss', () => {
  const db = { executeSql: async () => ({ rows: [] }) }
  assert.doesNotThrow(() => new PgBoss({ db, ssl: { pfx: 'x' } }))
})
