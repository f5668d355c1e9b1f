// Measuring helpers: CPU of this process and of the local PostgreSQL server, job counts read from
// the database, percentiles, and the machine description printed with the results.
import { readFileSync, readdirSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { execSync } from 'node:child_process'

export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

let clockTicks = 100
try { clockTicks = Number(execSync('getconf CLK_TCK', { encoding: 'utf8' }).trim()) || 100 } catch {}

function statFields (pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command, which is in parentheses and may contain spaces.
  return text.slice(text.lastIndexOf(')') + 2).split(' ')
}

/** The postmaster of the server `db` is connected to: the parent of its backend; null if unreadable. */
export async function findPostmaster (db) {
  try {
    const { rows } = await db.query('SELECT pg_backend_pid() AS pid')
    return Number(statFields(rows[0].pid)[1]) // ppid
  } catch {
    return null
  }
}

/**
 * CPU seconds used so far by the server: every child of the postmaster (backends, WAL writer,
 * checkpointer, autovacuum...) plus the postmaster's own time and that of its exited children
 * (cutime/cstime), so backends that closed during a workload still count. null if not readable.
 */
export function serverCpuSeconds (postmaster) {
  if (!postmaster) return null
  try {
    const f = statFields(postmaster) // utime=11 stime=12 cutime=13 cstime=14 (0-based after the command)
    let ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid) || Number(pid) === postmaster) continue
      try {
        const s = statFields(pid)
        if (Number(s[1]) === postmaster) ticks += Number(s[11]) + Number(s[12])
      } catch {} // exited meanwhile
    }
    return ticks / clockTicks
  } catch {
    return null
  }
}

/** CPU snapshot of this process (all threads, so the native engine's too) and of the server. */
export function cpuSnapshot (postmaster) {
  const { user, system } = process.cpuUsage()
  return { client: (user + system) / 1e6, server: serverCpuSeconds(postmaster) }
}

export function cpuDelta (before, after) {
  return {
    clientCpu: after.client - before.client,
    serverCpu: before.server == null || after.server == null ? null : after.server - before.server
  }
}

/** Job counts of queue `name` in `schema`, read from the job table. */
export async function jobCounts (db, schema, name) {
  const { rows } = await db.query(
    `SELECT count(*) FILTER (WHERE state = 'completed')::int AS completed,
            count(*) FILTER (WHERE state = 'failed')::int AS failed,
            count(*) FILTER (WHERE state = 'created')::int AS created,
            count(*)::int AS total
       FROM ${schema}.job WHERE name = $1`, [name])
  return rows[0]
}

/**
 * Resolves with the database's counts once `n` jobs of the queue are completed or failed. Handler
 * callbacks (`seen()`) only decide when to start asking the database; the answer is the database's.
 * Throws when nothing moves for `stallMs`, or when it takes longer than `maxMs`.
 */
export async function untilSettled (db, schema, name, n, seen, { stallMs = 60_000, maxMs = Infinity } = {}) {
  let progress = -1
  let movedAt = Date.now()
  const deadline = Date.now() + maxMs
  for (;;) {
    if (Date.now() > deadline) {
      const counts = await jobCounts(db, schema, name)
      throw new Error(`too slow: after ${maxMs / 1000} s handlers saw ${seen()} of ${n} jobs; database ${JSON.stringify(counts)}`)
    }
    let marker = seen()
    if (marker >= n) {
      const counts = await jobCounts(db, schema, name)
      if (counts.completed + counts.failed >= n) return counts
      marker = n + counts.completed + counts.failed
    }
    if (marker !== progress) {
      progress = marker
      movedAt = Date.now()
    } else if (Date.now() - movedAt > stallMs) {
      const counts = await jobCounts(db, schema, name)
      throw new Error(`stalled: handlers saw ${seen()} of ${n} jobs; database ${JSON.stringify(counts)}`)
    }
    await sleep(marker >= n ? 10 : 5)
  }
}

export function percentile (sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1)))]
}

export function median (values) {
  return percentile([...values].sort((a, b) => a - b), 0.5)
}

/** nproc, CPU model, PostgreSQL version and the settings that matter for a queue. */
export async function machineInfo (db) {
  let cpu = 'unknown'
  try { cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))[1] } catch {}
  const setting = async name => (await db.query(`SHOW ${name}`)).rows[0][name]
  return {
    nproc: availableParallelism(),
    cpu,
    node: process.version,
    postgres: (await db.query('SHOW server_version')).rows[0].server_version,
    shared_buffers: await setting('shared_buffers'),
    synchronous_commit: await setting('synchronous_commit'),
    max_connections: await setting('max_connections'),
    autovacuum: await setting('autovacuum'),
    commit: await commitLatency(db)
  }
}

/**
 * The disk's commit latency right now: 300 one-row INSERT + COMMIT round trips, 10 ms apart, from
 * a plain node-postgres client. Every send and settle waits on a commit, so a slow or stalling
 * disk bounds both sides; this says what the runs below were up against.
 */
export async function commitLatency (db, samples = 300) {
  await db.query('CREATE TEMP TABLE IF NOT EXISTS bench_commit_probe (x int)')
  const times = []
  for (let k = 0; k < samples; k++) {
    const t0 = performance.now()
    await db.query('INSERT INTO bench_commit_probe VALUES (1)')
    times.push(performance.now() - t0)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  times.sort((a, b) => a - b)
  const at = q => times[Math.min(times.length - 1, Math.floor(q * times.length))]
  return { p50: at(0.5), p99: at(0.99), max: times.at(-1) }
}
