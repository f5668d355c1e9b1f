// A throwaway PostgreSQL for one test file, configured as that file needs: its own port, socket
// directory, pg_hba.conf, settings and (optionally) TLS with certificates made here by `openssl`.
//
//   const server = await startServer({ ssl: true, hba: ['hostssl all all all trust'] })
//   after(() => server.stop())
//
// scripts/test.mjs starts one of these too when no PostgreSQL answers where the tests look.
import { execFile, spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'

const require = createRequire(import.meta.url)
const pg = require('pg')
const run = promisify(execFile)

const isRoot = process.getuid?.() === 0
// initdb and postgres refuse to run as root: run them as the postgres OS user, which must then own
// the data directory, the certificates and the socket directory.
const asPostgres = isRoot ? ['runuser', '-u', 'postgres', '--'] : []

function findPgBin () {
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' })
  if (which.status === 0 && which.stdout.trim()) return dirname(which.stdout.trim())
  for (const base of ['/usr/lib/postgresql', '/usr/local/pgsql']) {
    if (!existsSync(base)) continue
    for (const v of readdirSync(base).sort().reverse()) {
      if (existsSync(join(base, v, 'bin', 'initdb'))) return join(base, v, 'bin')
    }
    if (existsSync(join(base, 'bin', 'initdb'))) return join(base, 'bin')
  }
  throw new Error('no initdb found: install PostgreSQL to run the tests that start their own server')
}

async function pgTool (bin, cmd, args) {
  const full = [...asPostgres, join(bin, cmd), ...args]
  try {
    return await run(full[0], full.slice(1), { encoding: 'utf8' })
  } catch (err) {
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr || err.message}`)
  }
}

/** A TCP port nothing listens on right now (the kernel's pick for port 0). */
export function freePort () {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.unref()
    probe.on('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

const OPENSSL_CNF = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
`

/**
 * Certificates for one server, in `dir`: a CA; a server certificate it signed whose only name is
 * `DNS:localhost` (so connecting to 127.0.0.1 is a host-name mismatch); an unrelated "wrong" CA;
 * a client certificate for user `postgres` (CN=postgres) signed by the CA, with its key plain and
 * encrypted (PKCS#8, AES-256-CBC) under `passphrase`. EC P-256 keys: quick to make.
 */
export async function makeCertificates (dir) {
  mkdirSync(dir, { recursive: true })
  const f = name => join(dir, name)
  writeFileSync(f('openssl.cnf'), OPENSSL_CNF)
  const openssl = args => run('openssl', args, { cwd: dir })
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc']
  const serial = () => ['-set_serial', '0x' + Math.floor(Math.random() * 2 ** 48).toString(16)]
  const selfSignedCa = (name, cn) => openssl(['req', '-x509', '-config', f('openssl.cnf'), '-extensions', 'ca', ...newKey,
    '-keyout', f(`${name}.key`), '-out', f(`${name}.crt`), '-days', '3', '-subj', `/CN=${cn}`, ...serial()])
  const signed = async (name, cn, extensions) => {
    await openssl(['req', '-new', '-config', f('openssl.cnf'), ...newKey, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`])
    await openssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), ...serial(),
      '-days', '3', '-extfile', f('openssl.cnf'), '-extensions', extensions, '-out', f(`${name}.crt`)])
  }
  const passphrase = 'pgbn-client-key-passphrase'
  await Promise.all([selfSignedCa('ca', 'pgbn test CA'), selfSignedCa('wrong-ca', 'pgbn unrelated CA')])
  await Promise.all([signed('server', 'pgbn-test-server', 'server'), signed('client', 'postgres', 'client')])
  await openssl(['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', f('client.key'), '-out', f('client-encrypted.key'), '-passout', `pass:${passphrase}`])
  for (const key of ['ca.key', 'wrong-ca.key', 'server.key', 'client.key', 'client-encrypted.key']) chmodSync(f(key), 0o600)
  const read = name => readFileSync(f(name), 'utf8')
  return {
    dir,
    caFile: f('ca.crt'),
    ca: read('ca.crt'),
    wrongCaFile: f('wrong-ca.crt'),
    wrongCa: read('wrong-ca.crt'),
    serverCertFile: f('server.crt'),
    serverKeyFile: f('server.key'),
    clientCertFile: f('client.crt'),
    clientCert: read('client.crt'),
    clientKeyFile: f('client.key'),
    clientKey: read('client.key'),
    clientKeyEncryptedFile: f('client-encrypted.key'),
    clientKeyEncrypted: read('client-encrypted.key'),
    passphrase
  }
}

function quoteConf (value) {
  return typeof value === 'string' ? `'${value.replace(/'/g, "''")}'` : String(value)
}

// Stops the server and removes its directory once this process is gone, however it went: a test
// runner whose own output pipe closes (e.g. under `| head`) SIGKILLs its test processes, and
// nothing in-process survives that.
const WATCHDOG = `pid=$1 data=$2 dir=$3; shift 3
while kill -0 "$pid" 2>/dev/null; do sleep 1; done
"$@" -D "$data" -m immediate stop >/dev/null 2>&1
rm -rf "$dir"`

function startWatchdog (bin, data, dir) {
  const watchdog = spawn('sh', ['-c', WATCHDOG, 'pg-server-watchdog', String(process.pid), data, dir, ...asPostgres, join(bin, 'pg_ctl')],
    { detached: true, stdio: 'ignore' })
  watchdog.unref()
  return {
    cancel () {
      try {
        process.kill(-watchdog.pid, 'SIGKILL')
      } catch {}
    }
  }
}

const running = new Set()
const stopAll = () => {
  for (const server of running) server.stopSync()
}
// A test process that ends without its after() hooks must not leave servers behind: stop them on
// exit and on Ctrl-C/SIGTERM/SIGHUP (the signal is raised again once they are gone, unless someone
// else, such as the test runner, handles it). SIGKILL is the watchdog's case.
process.once('exit', stopAll)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    stopAll()
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
  })
}

/**
 * Starts a PostgreSQL for one test file.
 *
 * options:
 * - `ssl`: true to turn TLS on with certificates made for this server (`server.certs`).
 * - `clientCa` (default true with `ssl`): the CA is also the server's `ssl_ca_file`, so it can check
 *   client certificates. OpenSSL then also sends the CA in the server's chain, which changes what
 *   a client with the wrong CA reports ("self-signed certificate in certificate chain" rather than
 *   "unable to verify the first certificate").
 * - `hba`: pg_hba.conf lines for TCP (default: `host all all all trust`). `local all all trust`
 *   always comes first, so the harness's own queries (over the socket) work whatever the test
 *   demands of TCP clients.
 * - `settings`: extra postgresql.conf settings, e.g. `{ ssl_max_protocol_version: 'TLSv1.3' }`.
 *
 * Returns `{ host, port, socketDir, certs, url(params?, { host?, user?, password? }), query(sql,
 * params?), createRole(name, password), log(), restart(), pause(), resume(), stop() }`.
 */
export async function startServer (options = {}) {
  const { ssl = false, clientCa = true, hba = ['host all all all trust'], settings = {} } = options
  const bin = findPgBin()
  const dir = mkdtempSync(join(tmpdir(), 'pgbn-server-'))
  const data = join(dir, 'data')
  const socketDir = join(dir, 'socket')
  const logFile = join(dir, 'postgres.log')
  const watchdog = startWatchdog(bin, data, dir)
  mkdirSync(socketDir)
  const host = 'localhost'
  const port = await freePort()
  const certs = ssl ? await makeCertificates(join(dir, 'certs')) : null
  if (isRoot) await run('chown', ['-R', 'postgres:', dir])

  await pgTool(bin, 'initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '--no-instructions', '-E', 'UTF8', '--locale=C'])
  const conf = {
    port,
    // localhost resolves to 127.0.0.1 only on this machine (/etc/hosts); postgres listens on
    // whatever it resolves to, which is also the one name the server certificate carries.
    listen_addresses: 'localhost',
    unix_socket_directories: socketDir,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: 60,
    shared_buffers: '32MB',
    log_connections: 'on',
    log_line_prefix: '%m [%p] ',
    ...(certs && {
      ssl: 'on',
      ssl_cert_file: certs.serverCertFile,
      ssl_key_file: certs.serverKeyFile,
      ...(clientCa && { ssl_ca_file: certs.caFile })
    }),
    ...settings
  }
  writeFileSync(join(data, 'postgresql.conf'),
    readFileSync(join(data, 'postgresql.conf'), 'utf8') + '\n# pg-server.mjs\n' +
    Object.entries(conf).map(([k, v]) => `${k} = ${quoteConf(v)}`).join('\n') + '\n')
  writeFileSync(join(data, 'pg_hba.conf'), ['local all all trust', ...hba].join('\n') + '\n')
  if (isRoot) await run('chown', ['postgres:', join(data, 'postgresql.conf'), join(data, 'pg_hba.conf')])

  let admin = null
  const adminPool = () => {
    if (!admin) {
      admin = new pg.Pool({ host: socketDir, port, user: 'postgres', database: 'postgres', max: 2, application_name: 'pgbn-harness' })
      // a restart kills idle connections; the next query opens a fresh one
      admin.on('error', () => {})
    }
    return admin
  }
  const closeAdmin = async () => {
    const pool = admin
    admin = null
    await pool?.end().catch(() => {})
  }

  const pgCtl = args => pgTool(bin, 'pg_ctl', ['-D', data, ...args])
  const waitReady = async () => {
    for (let i = 0; ; i++) {
      const client = new pg.Client({ host: socketDir, port, user: 'postgres', database: 'postgres' })
      try {
        await client.connect()
        await client.query('SELECT 1')
        return
      } catch (err) {
        if (i > 100) throw err
        await new Promise(resolve => setTimeout(resolve, 100))
      } finally {
        await client.end().catch(() => {})
      }
    }
  }
  const boot = async () => {
    await pgCtl(['-l', logFile, '-w', '-t', '60', 'start'])
    await waitReady()
  }

  let stopped = false
  const server = {
    host,
    port,
    socketDir,
    dir,
    certs,

    /** postgres://postgres@localhost:<port>/postgres, with `params` as its query string. */
    url (params = {}, { host: h = host, user = 'postgres', password } = {}) {
      const auth = encodeURIComponent(user) + (password ? ':' + encodeURIComponent(password) : '')
      const query = new URLSearchParams(params).toString()
      return `postgres://${auth}@${h}:${port}/postgres${query ? '?' + query : ''}`
    },

    /** A query as the superuser over the unix socket (never subject to the TCP hba lines). */
    async query (sql, params) {
      return adminPool().query(sql, params)
    },

    /** A login role with a scram-sha-256 password, allowed to create schemas in `postgres`. */
    async createRole (name, password) {
      const ident = '"' + name.replace(/"/g, '""') + '"'
      // one simple-protocol query, so the SET applies to the session that creates the role
      await server.query(`SET password_encryption = 'scram-sha-256';
        CREATE ROLE ${ident} LOGIN PASSWORD '${password.replace(/'/g, "''")}';
        GRANT CREATE ON DATABASE postgres TO ${ident}`)
    },

    /** The server's log so far (log_connections is on, with the pid in each line's prefix). */
    log () {
      return existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''
    },

    /** pg_ctl restart -m fast: every connection is dropped; resolves once it accepts connections again. */
    async restart () {
      await closeAdmin()
      await pgCtl(['-m', 'fast', '-w', '-t', '60', 'restart', '-l', logFile])
      await waitReady()
    },

    /** Stops the server but keeps its data, for `resume()`. */
    async pause () {
      await closeAdmin()
      await pgCtl(['-m', 'fast', '-w', 'stop'])
    },

    /** Starts a paused server again. */
    async resume () {
      await boot()
    },

    /** Stops the server and removes its directory (data, certificates, socket). Safe to call twice. */
    async stop () {
      if (stopped) return
      stopped = true
      running.delete(server)
      await closeAdmin()
      await pgCtl(['-m', 'fast', '-w', 'stop']).catch(() => {})
      rmSync(dir, { recursive: true, force: true })
      watchdog.cancel()
    },

    stopSync () {
      if (stopped) return
      stopped = true
      running.delete(server)
      const full = [...asPostgres, join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop']
      spawnSync(full[0], full.slice(1), { stdio: 'ignore' })
      rmSync(dir, { recursive: true, force: true })
      watchdog.cancel()
    }
  }
  running.add(server)
  try {
    await boot()
  } catch (err) {
    const log = server.log()
    await server.stop()
    throw new Error(`${err.message}\n${log}`)
  }
  return server
}

/** Why `url` does not answer `SELECT 1` (e.g. "connect ECONNREFUSED 127.0.0.1:5432"), or null when it does. */
export async function unreachable (url, { timeoutMs = 3000 } = {}) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
    return null
  } catch (err) {
    return err.message || String(err.code || err)
  } finally {
    await client.end().catch(() => {})
  }
}
