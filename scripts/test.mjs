// `npm test`: every Rust and JS test against a real PostgreSQL: the Rust tests once, the JS tests
// once per Node version (the machine's node, then each one under scripts/node-versions/), and a
// summary of each run at the end.
//
// The server is DATABASE_URL when set, else postgres://localhost:5432. When nothing answers there,
// a throwaway server is started with the machine's initdb/pg_ctl and removed afterwards.
//
// Options: --rust-only, --js-only, --node=22 (only that major; repeatable).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { userInfo } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startServer } from '../__test__/support/pg-server.mjs'

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

/** Runs a step, its output passed through, and resolves to its exit code and its output. */
function runStep (cmd, args, env) {
  return new Promise(resolve => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env })
    let output = ''
    child.stdout.on('data', chunk => {
      process.stdout.write(chunk)
      output += chunk
    })
    child.on('error', err => { output += `\n${err.message}\n` })
    // without colour codes, which the counts are read from between
    child.on('close', code => resolve({ code: code ?? 1, output: output.replace(/\x1b\[[0-9;]*m/g, '') }))
  })
}

/** cargo test: the sum of its `test result:` lines. */
function cargoCounts (output) {
  const counts = { passed: 0, failed: 0, skipped: 0 }
  for (const m of output.matchAll(/^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/gm)) {
    counts.passed += Number(m[1])
    counts.failed += Number(m[2])
    counts.skipped += Number(m[3])
  }
  return counts
}

/** node --test with the spec reporter: its closing `ℹ pass N` lines. */
function nodeTestCounts (output) {
  const count = name => Number(output.match(new RegExp(`^ℹ ${name} (\\d+)$`, 'm'))?.[1] ?? 0)
  return { passed: count('pass'), failed: count('fail') + count('cancelled'), skipped: count('skipped') + count('todo') }
}

/**
 * The Node versions the JS tests run on: the machine's node, then each scripts/node-versions/<major>
 * package (a devDependency whose optional dependency carries that Node's binary, for linux-x64
 * only). A version whose binary is not installed is listed with the reason it is skipped.
 */
function nodeVersions () {
  const machine = { label: `Node ${process.version} (this machine's node)`, major: process.versions.node.split('.')[0], bin: process.execPath }
  const versions = [machine]
  const dir = join(root, 'scripts', 'node-versions')
  const majors = existsSync(dir) ? readdirSync(dir).filter(d => /^\d+$/.test(d)).sort((a, b) => a - b) : []
  for (const major of majors) {
    const name = `node-${major}`
    if (major === machine.major) {
      versions.push({ label: `Node ${major}`, major, skip: `the machine's node is Node ${major} already` })
      continue
    }
    let bin = null
    try {
      const manifest = createRequire(join(dir, major, 'package.json')).resolve(`${name}/package.json`)
      const { bin: bins } = JSON.parse(readFileSync(manifest, 'utf8'))
      bin = join(dirname(manifest), typeof bins === 'string' ? bins : bins.node)
    } catch {}
    const version = bin && spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout?.trim()
    if (!version) {
      const why = `${process.platform}-${process.arch}` === 'linux-x64'
        ? 'npm install puts it there'
        : `its npm package is for linux-x64 only, this machine is ${process.platform}-${process.arch}`
      versions.push({ label: `Node ${major}`, major, skip: `no Node ${major} binary under scripts/node-versions/${major} (${why})` })
      continue
    }
    versions.push({ label: `Node ${version}`, major, bin })
  }
  return versions
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
  // the same throwaway servers the TLS and outage tests start for themselves
  server = await startServer({ settings: { max_connections: 200 } })
  url = server.url()
}
console.log(`pg-boss-native tests: using ${url.replace(/:[^:@/]*@/, ':***@')}`)
const env = { ...process.env, DATABASE_URL: url }

const only = process.argv.slice(2)
const onlyMajors = only.filter(a => a.startsWith('--node=')).flatMap(a => a.slice(7).split(','))
const results = []
try {
  if (!only.includes('--js-only')) {
    // the engine's unit tests and its database tests, built without the napi layer (which
    // `npm install` already compiled into the addon the JS tests load)
    const { code, output } = await runStep('cargo', ['test', '--quiet', '--no-default-features', '--features', 'engine-tests'], env)
    results.push({ label: 'Rust (cargo test)', code, counts: cargoCounts(output) })
  }
  if (!only.includes('--rust-only')) {
    const files = readdirSync(join(root, '__test__'))
      .filter(f => /\.test\.(mjs|cjs|js)$/.test(f))
      .sort()
      .map(f => join('__test__', f))
    // The spec reporter on every version (Node 20 prints TAP when piped), in colour at a terminal.
    const jsEnv = process.stdout.isTTY && !('NO_COLOR' in env) ? { FORCE_COLOR: '1', ...env } : env
    for (const node of nodeVersions()) {
      if (onlyMajors.length && !onlyMajors.includes(node.major)) continue
      const label = `JS on ${node.label}`
      if (node.skip) {
        console.log(`\npg-boss-native tests: ${label}: skipped, ${node.skip}`)
        results.push({ label, skip: node.skip })
        continue
      }
      console.log(`\npg-boss-native tests: ${label}, ${node.bin}`)
      // A failing test that leaves an instance running must not hang the run: bound each test,
      // and exit once all have reported (process exit on stop() is tested in a child process).
      // Node 24's --test-force-exit can end the run while a file is still reporting, dropping its
      // remaining tests without a failure (seen: 214 of 223 reported), so there each test's
      // timeout is the only bound.
      const forceExit = Number(node.major) >= 24 ? [] : ['--test-force-exit']
      const { code, output } = await runStep(node.bin, ['--test', '--test-reporter=spec', '--test-concurrency=1', '--test-timeout=180000', ...forceExit, ...files], jsEnv)
      results.push({ label, code, counts: nodeTestCounts(output) })
    }
  }
} finally {
  await server?.stop()
}

const total = { passed: 0, failed: 0, skipped: 0 }
console.log('\npg-boss-native tests: summary')
for (const r of results) {
  if (r.skip) {
    console.log(`  ${r.label}: skipped, ${r.skip}`)
    continue
  }
  for (const key of Object.keys(total)) total[key] += r.counts[key]
  const verdict = r.code === 0 ? 'passed' : `FAILED (exit ${r.code})`
  console.log(`  ${r.label}: ${verdict}, ${r.counts.passed} passed, ${r.counts.failed} failed, ${r.counts.skipped} skipped`)
}
const failed = results.some(r => !r.skip && r.code !== 0)
console.log(`total: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`)
process.exit(failed ? 1 : 0)
