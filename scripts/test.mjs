// `npm test`: every Rust and JS test against a real PostgreSQL.
//
// The server is DATABASE_URL when set, else postgres://localhost:5432. When nothing answers there,
// a throwaway server is started with the machine's initdb/pg_ctl and removed afterwards.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir, userInfo } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const pg = require('pg')

async function reachable (url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

function findPgBin () {
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' })
  if (which.status === 0 && which.stdout.trim()) return dirname(which.stdout.trim())
  for (const base of ['/usr/lib/postgresql', '/usr/local/pgsql']) {
    if (!existsSync(base)) continue
    const versions = readdirSync(base).sort().reverse()
    for (const v of versions) {
      const bin = join(base, v, 'bin')
      if (existsSync(join(bin, 'initdb'))) return bin
    }
    if (existsSync(join(base, 'bin', 'initdb'))) return join(base, 'bin')
  }
  return null
}

async function startThrowawayServer () {
  const bin = findPgBin()
  if (!bin) {
    throw new Error('no PostgreSQL reachable and no initdb found: set DATABASE_URL or install PostgreSQL')
  }
  const dir = mkdtempSync(join(tmpdir(), 'pg-boss-native-test-'))
  const data = join(dir, 'data')
  const port = 55432 + Math.floor(Math.random() * 1000)
  // initdb refuses to run as root; run it as the postgres user when we are root.
  const asUser = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : []
  if (asUser.length) spawnSync('chown', ['-R', 'postgres', dir])
  const run = (cmd, args) => {
    const full = [...asUser, join(bin, cmd), ...args]
    const r = spawnSync(full[0], full.slice(1), { stdio: 'inherit' })
    if (r.status !== 0) throw new Error(`${cmd} failed`)
  }
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'])
  run('pg_ctl', ['-D', data, '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, '-w', 'start', '-l', join(dir, 'log')])
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const stop = () => {
    const full = [...asUser, join(bin, 'pg_ctl'), '-D', data, '-m', 'fast', 'stop']
    spawnSync(full[0], full.slice(1), { stdio: 'ignore' })
    rmSync(dir, { recursive: true, force: true })
  }
  return { url, stop }
}

function runStep (cmd, args, env) {
  return new Promise(resolve => {
    const child = spawn(cmd, args, { cwd: root, stdio: 'inherit', env })
    child.on('exit', code => resolve(code ?? 1))
  })
}

/** Without a user name node-postgres sends none (libpq would send the OS user): name it. */
function withUser (url) {
  const parsed = new URL(url)
  if (!parsed.username && !process.env.PGUSER && !process.env.USER) parsed.username = userInfo().username
  if (parsed.pathname === '/' || parsed.pathname === '') parsed.pathname = '/' + (parsed.username || process.env.PGUSER || process.env.USER)
  return parsed.toString()
}

let url = withUser(process.env.DATABASE_URL || 'postgres://localhost:5432')
let server = null
if (!(await reachable(url))) {
  console.log(`pg-boss-native tests: nothing answers at ${url}; starting a throwaway PostgreSQL`)
  server = await startThrowawayServer()
  url = server.url
}
console.log(`pg-boss-native tests: using ${url.replace(/:[^:@/]*@/, ':***@')}`)
const env = { ...process.env, DATABASE_URL: url }

let status = 0
try {
  const only = process.argv.slice(2)
  if (!only.includes('--js-only')) {
    // the engine's unit tests and its database tests, built without the napi layer (which
    // `npm install` already compiled into the addon the JS tests load)
    status = await runStep('cargo', ['test', '--quiet', '--no-default-features', '--features', 'engine-tests'], env)
  }
  if (status === 0 && !only.includes('--rust-only')) {
    const files = readdirSync(join(root, '__test__'))
      .filter(f => /\.test\.(mjs|cjs|js)$/.test(f))
      .sort()
      .map(f => join('__test__', f))
    // A failing test that leaves an instance running must not hang the run: bound each test,
    // and exit once all have reported (process exit on stop() is tested in a child process).
    status = await runStep(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=180000', '--test-force-exit', ...files], env)
  }
} finally {
  server?.stop()
}
process.exit(status)
