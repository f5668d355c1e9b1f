// npm run bench [-- --quick] [-- --repeat=N] [-- --only=W3,W4] [-- --peers] [-- --scale [--scale-jobs=N] [--scale-queues=100,1000,5000]]
//
// pg-boss 12.38 against pg-boss-native on the same PostgreSQL (DATABASE_URL, default
// postgres://root@localhost:5432/root), one after the other, each in its own schema and its own
// child process, so client CPU and memory belong to one side only. See bench/README.md.
import { execSync, spawn } from 'node:child_process'
import { readdirSync, statSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { commitLatency, findPostmaster, machineInfo } from './measure.mjs'
import { SCALE, WORKLOADS } from './workloads.mjs'
import { MORE_SCALE, MORE_WORKLOADS, SCALE_QUEUE_COUNTS } from './workloads-more.mjs'
import { FLOORS, SCHEMA as FLOOR_SCHEMA } from './floors.mjs'
import { PEERS, PEER_SCHEMA, loadPeer } from './peers/index.mjs'
import { targetLines } from './targets.mjs'

const CONNECTION = process.env.DATABASE_URL || 'postgres://root@localhost:5432/root'
const SIDES = ['pg-boss', 'native']
const SCHEMA = { 'pg-boss': 'bench_pgboss', native: 'bench_native', floor: FLOOR_SCHEMA, ...PEER_SCHEMA }
const ALL_WORKLOADS = [...WORKLOADS, ...MORE_WORKLOADS]
const here = fileURLToPath(import.meta.url)

const args = Object.fromEntries(process.argv.slice(2).map(a => {
  const [k, v] = a.replace(/^--/, '').split('=')
  return [k, v ?? true]
}))

// ---- one side, one workload (child process) ----

// How long a drain may take: nothing settling for stallMs, or longer than maxMs in all, is an error.
const LIMITS = {
  quick: { stallMs: 15_000, maxMs: 30_000 },
  full: { stallMs: 60_000, maxMs: 150_000 },
  scale: { stallMs: 120_000, maxMs: 30 * 60_000 }
}

async function child ({ side, workload, phase, n, mode, startAt, queues }) {
  const { PgBoss } = side === 'pg-boss' ? await import('pg-boss') : await import('pg-boss-native') // the floor installs its table with native
  const addonBuilt = side === 'native' ? nativeBuild().addonBuilt : undefined // the addon just loaded: others may rebuild it mid-run
  const db = new pg.Client(CONNECTION)
  await db.connect()
  const schema = SCHEMA[side]
  const ctx = {
    PgBoss,
    side,
    db,
    schema,
    n,
    limits: LIMITS[mode],
    mode,
    queues,
    connection: CONNECTION,
    startAt,
    postmaster: await findPostmaster(db),
    options: { connectionString: CONNECTION, schema, max: 10, supervise: false, schedule: false }
  }
  const run = phase ? { ...SCALE, ...MORE_SCALE }[phase]
    : side === 'floor' ? FLOORS[workload].run
      : PEERS.includes(side) ? (await loadPeer(side)).RUNS[workload]
        : ALL_WORKLOADS.find(w => w.id === workload).run
  let result
  try {
    await endLeftovers(db, schema)
    result = await run(ctx)
  } catch (err) {
    result = { error: err.message }
    await endLeftovers(db, schema) // a stalled run's statements would go on running after we exit
  }
  await db.end()
  process.stdout.write('RESULT:' + JSON.stringify({ ...result, addonBuilt }) + '\n')
  process.exit(0) // a worker left behind by an error must not keep the process alive
}

/** Ends server backends still running statements on this side's schema (from a run that failed). */
async function endLeftovers (db, schema) {
  await db.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle' AND query LIKE $1`,
    [`%${schema}.%`])
}

function runChild (task, timeoutMs = 10 * 60_000) {
  return new Promise(resolve => {
    const proc = spawn(process.execPath, [here, `--child=${JSON.stringify(task)}`], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    proc.stdout.on('data', d => { out += d })
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
    proc.on('close', (code, signal) => {
      clearTimeout(timer)
      const line = out.split('\n').find(l => l.startsWith('RESULT:'))
      resolve(line ? JSON.parse(line.slice(7)) : { error: `child exited (${signal ?? code}) without a result` })
    })
  })
}

// ---- the default run ----

async function main (mode, only, repeat) {
  const machine = await describeMachine()
  const rows = []
  const started = Date.now()
  const peers = args.peers ? await Promise.all(PEERS.map(async name => ({ name, ...await loadPeer(name) }))) : []
  for (const w of ALL_WORKLOADS.filter(w => !only || only.some(o => w.id.startsWith(o)))) {
    const n = w[mode]
    const row = { id: w.id, title: w.title, unit: w.unit, n, sides: {}, runs: [] }
    if (peers.length) row.peers = Object.fromEntries(peers.filter(p => !p.RUNS[w.id]).map(p => [p.name, { notRun: p.NOT_RUN[w.id] ?? 'not written for this workload' }]))
    const ranPeers = peers.filter(p => p.RUNS[w.id])
    const recordPeer = (p, r) => {
      row.runs.push({ side: p.name, ...r })
      if (better(w, r, row.peers[p.name])) row.peers[p.name] = { ...r, settings: p.settings(w.id) }
      process.stderr.write(`${w.id.padEnd(11)} ${p.name.padEnd(8)} ${r.error ? 'ERROR ' + r.error : headline(w, r) + ' ' + r.check}\n`)
    }
    const recordFloor = r => {
      row.runs.push({ side: 'floor', ...r })
      if (better(w, r, row.floor)) row.floor = { ...r, title: FLOORS[w.id].title }
      process.stderr.write(`${w.id.padEnd(11)} ${'floor'.padEnd(8)} ${r.error ? 'ERROR ' + r.error : headline(w, r) + ' ' + r.check}\n`)
    }
    const record = (side, r) => {
      row.runs.push({ side, ...r })
      if (better(w, r, row.sides[side])) row.sides[side] = r
      process.stderr.write(`${w.id.padEnd(11)} ${side.padEnd(8)} ${r.error ? 'ERROR ' + r.error : headline(w, r) + ' ' + r.check}\n`)
    }
    for (let rep = 0; rep < repeat; rep++) {
      if (w.together) {
        // Both sides at the same time (each on its own schema): a latency tail comes mostly from
        // the disk's commit stalls, which then hit both sides alike. The server CPU each side
        // reads covers both, so it is not reported.
        // both start measuring at one moment, after both have set up (schema install included)
        // (with --peers, the peers run in the same moment too, each in its own process and store)
        const startAt = Date.now() + 8000
        const together = [...SIDES, ...ranPeers.map(p => p.name)]
        const results = await Promise.all(together.map(side => runChild({ side, workload: w.id, n, mode, startAt })))
        SIDES.forEach((side, k) => record(side, { ...results[k], serverCpu: null, walBytes: null, load: loadavg()[0] }))
        ranPeers.forEach((p, k) => recordPeer(p, { ...results[SIDES.length + k], serverCpu: null, walBytes: null, load: loadavg()[0] }))
        continue
      }
      // Alternate which side goes first; keep each side's best run. The floor and the peers follow.
      for (const side of rep % 2 ? [...SIDES].reverse() : SIDES) {
        if (w.nativeOnly && side === 'pg-boss') continue
        record(side, { ...await runChild({ side, workload: w.id, n, mode }), load: loadavg()[0] })
      }
      if (FLOORS[w.id]) recordFloor({ ...await runChild({ side: 'floor', workload: w.id, n, mode }), load: loadavg()[0] })
      for (const p of ranPeers) recordPeer(p, { ...await runChild({ side: p.name, workload: w.id, n, mode }), load: loadavg()[0] })
    }
    rows.push(row)
  }
  const seconds = Math.round((Date.now() - started) / 1000)
  machine.commitAfter = await probeCommits()
  const load = Math.max(...rows.flatMap(r => r.runs.map(x => x.load)))
  const warning = rebuiltWarning(rows.flatMap(r => r.runs))
  console.log(machineLine(machine) + `\nmode: ${mode}, best of ${repeat}, ${seconds} s, highest 1-min load average after a run: ${fmt(load, 2)}` +
    (warning ? '\n' + warning : '') + '\n')
  console.log(table(rows))
  const extra = [floorTable(rows), detailLines(rows), peers.length ? peerTable(rows, peers.map(p => p.name)) : ''].filter(Boolean)
  for (const text of extra) console.log('\n' + text)
  console.log('\nTargets (issue 15):\n' + targetLines(rows).map(l => '- ' + l).join('\n'))
  writeFileSync(new URL('results.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), mode, repeat, seconds, machine, rows }, null, 2))
}

async function probeCommits () {
  const db = new pg.Client(CONNECTION)
  await db.connect()
  try { return await commitLatency(db) } finally { await db.end() }
}

async function describeMachine () {
  const db = new pg.Client(CONNECTION)
  await db.connect()
  const machine = await machineInfo(db)
  await db.end()
  return { ...machine, build: nativeBuild() }
}

/** Which pg-boss-native is measured: the commit, whether the Rust sources differ from it, when the addon was built. */
function nativeBuild () {
  const root = new URL('..', import.meta.url)
  const git = cmd => { try { return execSync(cmd, { cwd: root, encoding: 'utf8' }).trim() } catch { return '' } }
  const addon = readdirSync(root).find(f => f.endsWith('.node'))
  return {
    commit: git('git rev-parse --short HEAD') || 'unknown',
    dirty: git('git status --porcelain -- src Cargo.toml Cargo.lock') !== '',
    addonBuilt: addon ? statSync(new URL(addon, root)).mtime.toISOString() : null
  }
}

function rebuiltWarning (runs) {
  const builds = [...new Set(runs.map(r => r.addonBuilt).filter(Boolean))]
  return builds.length > 1 ? `WARNING: the addon was rebuilt during the run; native rows span builds ${builds.join(', ')} (per run in results.json)` : ''
}

/** The floor rows: what PostgreSQL takes for the same rows from plain node-postgres, and each side's share of it. */
function floorTable (rows) {
  const lines = rows.filter(r => r.floor).map(row => {
    const f = row.floor
    const share = side => { const r = row.sides[side]; return f.error || !r || r.error ? 'n/a' : `${fmt(r.rate / f.rate * 100)}%` }
    return [`${row.id} ${f.title ?? 'floor'}`, fmt(row.n), f.error ? 'ERROR ' + f.error : fmt(f.rate), share('pg-boss'), share('native'), f.error ? 'error' : f.check]
  })
  if (!lines.length) return ''
  return markdown(['floor', 'rows', 'rows/s', 'pg-boss ÷ floor', 'native ÷ floor', 'check'], lines) +
    '\nfloor: plain node-postgres into the job table of a fresh pg-boss-native schema (its partition, indexes and foreign keys), same columns set as the sides.'
}

/** What the W7 and W8 rows measure beside jobs/s. */
function detailLines (rows) {
  const out = []
  for (const row of rows) {
    for (const side of SIDES) {
      const r = row.sides[side]
      if (!r || r.error) continue
      if (r.ceiling) out.push(`${row.id} ${side}: ${fmt(r.rate)} jobs/s of a handler-bound ceiling of ${fmt(r.ceiling)} (${fmt(r.rate / r.ceiling * 100)}%)`)
      if (r.fetchP50 != null) {
        out.push(`${row.id} ${side}: ${fmt(r.queues)} queues; fetch of 10 p50 ${fmt(r.fetchP50, 2)} / p99 ${fmt(r.fetchP99, 2)} ms, complete of 10 p50 ${fmt(r.settleP50, 2)} / p99 ${fmt(r.settleP99, 2)} ms (200 timed pairs), then ${fmt(r.rate)} jobs/s with work() on the 50`)
      }
    }
  }
  return out.join('\n')
}

/** The peers beside both sides, with their ratios to each (> 1: the peer is faster; for ms, < 1). */
function peerTable (rows, names) {
  const value = r => !r ? '—' : r.notRun ? 'n/a' : r.error ? 'ERROR' : r.p50 != null && r.rate == null ? `${fmt(r.p50, 2)} / ${fmt(r.p99, 2)} ms` : fmt(r.rate)
  const ratio = (row, x, y) => {
    if (!x || !y || x.notRun || x.error || y.error) return '—'
    return row.unit === 'ms' ? `${fmt(x.p50 / y.p50, 2)}×` : `${fmt(x.rate / y.rate, 2)}×`
  }
  const header = ['workload', 'pg-boss', 'native', ...names.flatMap(n => [n, `${n}÷pg-boss`, `${n}÷native`])]
  const lines = rows.filter(r => r.peers).map(row => {
    const a = row.sides['pg-boss']
    const b = row.sides.native
    return [row.title + (row.unit === 'ms' ? ' (p50 / p99)' : ''), value(a), value(b),
      ...names.flatMap(n => { const p = row.peers[n]; return [value(p), ratio(row, p, a), ratio(row, p, b)] })]
  })
  const notes = rows.filter(r => r.peers).flatMap(row => names.map(n => {
    const p = row.peers[n]
    if (p.notRun) return `${row.id} ${n}: n/a, ${p.notRun}`
    return `${row.id} ${n}: ${p.settings ?? ''}; check ${p.error ? 'ERROR ' + p.error : p.check}`
  }))
  return markdown(header, lines) + '\npeer÷x > 1: the peer is faster (jobs/s); for ms rows (p50) < 1 is faster.\n' + notes.join('\n')
}

const latencyLine = c => `p50 ${fmt(c.p50, 2)} / p99 ${fmt(c.p99, 2)} / max ${fmt(c.max, 1)} ms`

function machineLine (m) {
  const b = m.build
  return `${m.nproc} CPUs (${m.cpu}), Node ${m.node}, PostgreSQL ${m.postgres} ` +
    `(shared_buffers ${m.shared_buffers}, synchronous_commit ${m.synchronous_commit}, max_connections ${m.max_connections}${m.autovacuum ? `, autovacuum ${m.autovacuum}` : ''})\n` +
    (m.commit ? `commit latency before the runs (INSERT + COMMIT, 300 samples): ${latencyLine(m.commit)}\n` : '') +
    (m.commitAfter ? `commit latency after the runs: ${latencyLine(m.commitAfter)}\n` : '') +
    `pg-boss-native at ${b.commit}${b.dirty ? ' with uncommitted Rust changes' : ''}, addon built ${b.addonBuilt}`
}

const fmt = (x, digits = 0) => x == null || Number.isNaN(x) ? 'n/a' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

/** Higher jobs/s, or lower p50 latency; a run that failed or counted wrong never wins. */
function better (w, r, best) {
  if (!best) return true
  const good = x => !x.error && x.check === 'ok'
  if (good(r) !== good(best)) return good(r)
  return w.unit === 'ms' ? r.p50 < best.p50 : r.rate > best.rate
}

function headline (w, r) {
  return w.unit === 'ms' ? `p50 ${fmt(r.p50, 2)} / p99 ${fmt(r.p99, 2)} ms` : `${fmt(r.rate)} jobs/s`
}

function perThousand (r, key) {
  return r && !r.error && r[key] != null ? fmt(r[key] / r.n * 1000, 3) : 'n/a'
}

function perJob (r, key) {
  return r && !r.error && r[key] != null ? fmt(r[key] / r.n) : 'n/a'
}

function table (rows) {
  const header = ['workload', 'jobs', 'pg-boss', 'native', 'native÷pg-boss', 'client CPU s/1k (pg-boss | native)', 'server CPU s/1k (pg-boss | native)', 'WAL bytes/job (pg-boss | native)', 'check']
  const lines = rows.map(row => {
    const a = row.sides['pg-boss']
    const b = row.sides.native
    const ok = r => r && !r.error
    const value = r => !r ? '—' : r.error ? 'ERROR' : row.unit === 'ms' ? `${fmt(r.p50, 2)} / ${fmt(r.p99, 2)} ms` : fmt(r.rate)
    let ratio = '—'
    if (ok(a) && ok(b)) ratio = row.unit === 'ms' ? `${fmt(b.p50 / a.p50, 2)}× / ${fmt(b.p99 / a.p99, 2)}×` : `${fmt(b.rate / a.rate, 2)}×`
    const problems = Object.entries(row.sides).filter(([, r]) => r.error || r.check !== 'ok')
      .map(([side, r]) => `${side}: ${(r.error ?? r.check).split(':')[0]}`)
    const check = problems.length ? problems.join(', ') + ' (see results.json)' : 'ok'
    return [
      row.title + (row.unit === 'ms' ? ' (p50 / p99)' : ''), fmt(row.n), value(a), value(b), ratio,
      `${perThousand(a, 'clientCpu')} | ${perThousand(b, 'clientCpu')}`,
      `${perThousand(a, 'serverCpu')} | ${perThousand(b, 'serverCpu')}`,
      `${perJob(a, 'walBytes')} | ${perJob(b, 'walBytes')}`,
      check
    ]
  })
  return markdown(header, lines) +
    '\njobs/s unless marked ms; native÷pg-boss > 1 is faster for jobs/s, < 1 is faster for latency.' +
    '\nCPU: seconds per 1,000 jobs during the timed part (client: this process, all threads; server: the postmaster and its children).' +
    '\nWAL: bytes the server wrote to its write-ahead log per job during the timed part (a checkpoint precedes each timed part).'
}

function markdown (header, lines) {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map(l => String(l[i]).length)))
  const row = cells => '| ' + cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ') + ' |'
  return [row(header), row(widths.map(w => '-'.repeat(w))), ...lines.map(row)].join('\n')
}

// ---- --scale ----

async function scale (n) {
  const machine = await describeMachine()
  const rows = {}
  for (const side of SIDES) {
    const fetch = await runChild({ side, phase: 'fetch', n, mode: 'scale' }, 60 * 60_000)
    const drain = fetch.error ? { error: 'not run' } : await runChild({ side, phase: 'drain', n, mode: 'scale' }, 60 * 60_000)
    rows[side] = { fetch, drain }
    process.stderr.write(`scale ${side}: ${JSON.stringify(rows[side])}\n`)
  }
  const header = ['scale: ' + fmt(n) + ' jobs', 'pg-boss', 'native', 'native÷pg-boss']
  const a = rows['pg-boss']
  const b = rows.native
  const line = (label, get, digits) => {
    const x = safe(() => get(a))
    const y = safe(() => get(b))
    return [label, fmt(x, digits), fmt(y, digits), x && y ? fmt(y / x, 2) + '×' : '—']
  }
  const lines = [
    line(`fetch of 100, backlog ${fmt(a.fetch.small ?? 10_000)} (ms, median of 15)`, s => s.fetch.fetchSmallMs, 2),
    line(`fetch of 100, backlog ${fmt(n)} (ms, median of 15)`, s => s.fetch.fetchLargeMs, 2),
    line('drain batch 100 (jobs/s)', s => s.drain.rate),
    line('RSS at start (MB)', s => s.drain.rssStart),
    line('RSS at end (MB)', s => s.drain.rssEnd),
    line('RSS peak (MB)', s => s.drain.rssPeak),
    line('client CPU s/1k jobs', s => s.drain.clientCpu / s.drain.n * 1000, 3),
    line('server CPU s/1k jobs', s => s.drain.serverCpu / s.drain.n * 1000, 3)
  ]
  const counts = args['scale-queues'] ? String(args['scale-queues']).split(',').map(Number) : SCALE_QUEUE_COUNTS
  for (const queues of counts) {
    const q = {}
    for (const side of SIDES) {
      q[side] = await runChild({ side, phase: 'queues', n, queues, mode: 'scale' }, 60 * 60_000)
      process.stderr.write(`scale queues ${queues} ${side}: ${JSON.stringify(q[side])}\n`)
    }
    rows[`queues${queues}`] = q
    const at = s => q[s].error ? null : q[s]
    lines.push(
      [`W8 fetch of 10, ${fmt(queues)} queues (ms, median of 200)`, fmt(at('pg-boss')?.fetchMedianMs, 2), fmt(at('native')?.fetchMedianMs, 2),
        at('pg-boss') && at('native') ? fmt(at('native').fetchMedianMs / at('pg-boss').fetchMedianMs, 2) + '×' : '—'],
      [`W8 fetch of 10, ${fmt(queues)} queues (ms, p99 of 200)`, fmt(at('pg-boss')?.fetchP99Ms, 2), fmt(at('native')?.fetchP99Ms, 2),
        at('pg-boss') && at('native') ? fmt(at('native').fetchP99Ms / at('pg-boss').fetchP99Ms, 2) + '×' : '—'])
  }
  const checks = SIDES.map(s => `${s}: ${rows[s].drain.check ?? rows[s].drain.error ?? rows[s].fetch.error}`).join(', ') +
    counts.flatMap(c => SIDES.map(s => rows[`queues${c}`][s].error ? `, ${s} at ${c} queues: ${rows[`queues${c}`][s].error}` : '')).join('')
  const warning = rebuiltWarning([b.fetch, b.drain])
  console.log(machineLine(machine) + (warning ? '\n' + warning : '') + '\n')
  console.log(markdown(header, lines) + `\ncheck: ${checks}`)
  writeFileSync(new URL('results-scale.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), n, machine, rows }, null, 2))
}

function safe (fn) {
  try { const v = fn(); return Number.isFinite(v) ? v : null } catch { return null }
}

// ---- entry (last, so every const above is initialized) ----

if (args.child) await child(JSON.parse(args.child))
else if (args.scale) await scale(Number(args['scale-jobs'] ?? 200_000))
else await main(args.quick ? 'quick' : 'full', args.only ? String(args.only).split(',') : null, Number(args.repeat ?? 1))
