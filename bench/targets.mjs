// Issue 15's targets, each read against the measured rows: printed after the tables as
// "<row>: <measured>, target <target>: met | missed | not measured".

const fmt = (x, d = 2) => x == null || !Number.isFinite(x) ? 'n/a' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
const ok = r => r && !r.error && r.check === 'ok'
const verdict = met => met == null ? 'not measured' : met ? 'met' : 'missed'

/**
 * pg-boss's side of a row. A `-prefetch` row runs pg-boss-native alone (pg-boss has no such
 * option): it is read against the pg-boss side of the row it repeats.
 */
function pgBossSide (row, rows = []) {
  if (row.sides['pg-boss'] || !row.id.endsWith('-prefetch')) return row.sides['pg-boss']
  return repeated(row, rows)?.sides['pg-boss']
}

/** The default row a `-prefetch` row repeats. */
function repeated (row, rows = []) {
  return rows.find(r => r.id === row.id.slice(0, -'-prefetch'.length))
}

/** Native against pg-boss, by rate: `factor`x or better. */
const timesPgBoss = (factor, reference = pgBossSide) => (row, rows) => {
  const a = reference(row, rows)
  const b = row.sides.native
  if (!ok(a) || !ok(b)) return { text: 'n/a', met: null }
  const x = b.rate / a.rate
  return { text: `${fmt(x)}x pg-boss`, met: x >= factor }
}

/** Native within `share` of a floor row (rate). */
const nearFloor = share => row => {
  const f = row.floor
  const b = row.sides.native
  if (!ok(f) || !ok(b)) return { text: 'n/a', met: null }
  const x = b.rate / f.rate
  return { text: `${fmt(x * 100, 0)}% of the floor`, met: x >= 1 - share }
}

const TARGETS = [
  { match: id => id === 'W1-send-1', target: 'within 15% of the INSERT floor', read: nearFloor(0.15) },
  { match: id => id === 'W1-send-16', target: '>= 5x pg-boss', read: timesPgBoss(5) },
  {
    match: id => id === 'W2-insert',
    target: '>= 2x pg-boss, or within 10% of the COPY floor',
    read: row => {
      const a = timesPgBoss(2)(row)
      const f = nearFloor(0.1)(row)
      return { text: `${a.text}, ${f.text}`, met: a.met == null && f.met == null ? null : Boolean(a.met || f.met) }
    }
  },
  // and each with pg-boss-native's claim ahead (`prefetch`), read against the same pg-boss row
  { match: id => id.startsWith('W3-b1-c1') && !id.startsWith('W3-b1-c16'), target: '>= 3x pg-boss (issue: steady state; measured: whole drain)', read: timesPgBoss(3) },
  { match: id => id.startsWith('W3-b1-c16'), target: '>= 6x pg-boss (issue: steady state; measured: whole drain)', read: timesPgBoss(6) },
  { match: id => id.startsWith('W4-'), target: '>= 3x pg-boss (issue: with claim-ahead on)', read: timesPgBoss(3) },
  { match: id => id === 'W5-perjob', target: '>= 3x pg-boss', read: timesPgBoss(3) },
  {
    match: id => id === 'W5-each',
    target: '>= 3x pg-boss (its perJobResults row: pg-boss has no workEach)',
    read: timesPgBoss(3, (row, rows) => rows.find(r => r.id === 'W5-perjob')?.sides['pg-boss'])
  },
  {
    match: id => id === 'W6-notify',
    target: 'p50 <= 2 ms, p99 <= 5 ms',
    read: row => {
      const b = row.sides.native
      if (!ok(b)) return { text: 'n/a', met: null }
      return { text: `p50 ${fmt(b.p50)} / p99 ${fmt(b.p99)} ms`, met: b.p50 <= 2 && b.p99 <= 5 }
    }
  },
  {
    match: id => id.startsWith('W7-'),
    target: 'within 10% of the handler-bound ceiling (issue: with claim-ahead on)',
    read: row => {
      const b = row.sides.native
      if (!ok(b)) return { text: 'n/a', met: null }
      return { text: `${fmt(b.rate / b.ceiling * 100, 0)}% of ${fmt(b.ceiling, 0)} jobs/s`, met: b.rate >= 0.9 * b.ceiling }
    }
  },
  { match: id => id.startsWith('W8-'), target: '>= 3x pg-boss', read: timesPgBoss(3) }
]

/** CPU per 1,000 jobs, W3 and W4: client <= 1/4 of pg-boss's, server <= pg-boss's. */
function cpuTargets (row, rows) {
  if (!/^W[34]-/.test(row.id)) return []
  const a = pgBossSide(row, rows)
  const b = row.sides.native
  if (!ok(a) || !ok(b)) return [`${row.title}, CPU: n/a, target client <= 1/4 and server <= pg-boss's: not measured`]
  const client = b.clientCpu / a.clientCpu
  const lines = [`${row.title}, client CPU: ${fmt(client)} of pg-boss's, target <= 0.25: ${verdict(client <= 0.25)}`]
  if (a.serverCpu != null && b.serverCpu != null) {
    const server = b.serverCpu / a.serverCpu
    lines.push(`${row.title}, server CPU: ${fmt(server)} of pg-boss's, target <= 1: ${verdict(server <= 1)}`)
  } else lines.push(`${row.title}, server CPU: n/a, target <= pg-boss's: not measured`)
  return lines
}

/**
 * pg-boss-native ahead of graphile-worker on every workload they share. A `-prefetch` row is read
 * against the peer's run of the row it repeats (the peers run each workload once, with their own
 * fastest settings: graphile's `localQueue` is its claim ahead).
 */
function peerTarget (row, rows) {
  const own = row.peers?.graphile
  const g = (!own || own.notRun) && row.id.endsWith('-prefetch') ? repeated(row, rows)?.peers?.graphile : own
  const b = row.sides.native
  if (!g || g.notRun) return []
  if (!ok(g) || !ok(b)) return [`${row.title}, against graphile-worker: n/a, target ahead: not measured`]
  const ahead = row.unit === 'ms' ? b.p50 < g.p50 : b.rate > g.rate
  const text = row.unit === 'ms' ? `p50 ${fmt(b.p50)} against ${fmt(g.p50)} ms` : `${fmt(b.rate / g.rate)}x graphile-worker`
  return [`${row.title}, against graphile-worker: ${text}, target ahead: ${verdict(ahead)}`]
}

/** The lines, one per (row, target), for the rows measured. */
export function targetLines (rows) {
  const lines = []
  for (const row of rows) {
    for (const t of TARGETS.filter(t => t.match(row.id))) {
      const { text, met } = t.read(row, rows)
      lines.push(`${row.title}: ${text}, target ${t.target}: ${verdict(met)}`)
    }
    lines.push(...cpuTargets(row, rows), ...peerTarget(row, rows))
  }
  return lines
}
