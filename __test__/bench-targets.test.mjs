// bench/targets.mjs reads issue 15's targets against measured rows: these check its verdicts on
// made-up rows (no database), so a wrong comparison or a wrong reference row shows here.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { targetLines } from '../bench/targets.mjs'

const run = (rate, extra = {}) => ({ rate, check: 'ok', clientCpu: 1, serverCpu: 1, ...extra })
const row = (id, sides, extra = {}) => ({ id, title: id, unit: 'jobs/s', sides, ...extra })
const line = (lines, start) => lines.find(l => l.startsWith(start))

test('ratio targets: met at the factor, missed below it', () => {
  const lines = targetLines([
    row('W1-send-16', { 'pg-boss': run(1000), native: run(5000) }),
    row('W8-queues', { 'pg-boss': run(1000), native: run(2990) })
  ])
  assert.match(line(lines, 'W1-send-16:'), /5\.00x pg-boss, target >= 5x pg-boss: met$/)
  assert.match(line(lines, 'W8-queues:'), /2\.99x pg-boss, target >= 3x pg-boss: missed$/)
})

test('floor targets use the floor row; W2 is met by either reference', () => {
  const lines = targetLines([
    row('W1-send-1', { 'pg-boss': run(1000), native: run(840) }, { floor: run(1000) }),
    row('W2-insert', { 'pg-boss': run(1000), native: run(1500) }, { floor: run(1600) })
  ])
  assert.match(line(lines, 'W1-send-1:'), /84% of the floor, .*: missed$/)
  assert.match(line(lines, 'W2-insert:'), /1\.50x pg-boss, 94% of the floor, .*: met$/)
})

test('a failed or miscounted run is not measured, never met', () => {
  const lines = targetLines([
    row('W1-send-16', { 'pg-boss': run(1000), native: run(9000, { check: 'WRONG: ...' }) }),
    row('W3-b1-c16', { 'pg-boss': run(1000), native: { error: 'stalled' } })
  ])
  assert.match(line(lines, 'W1-send-16:'), /: not measured$/)
  assert.match(line(lines, 'W3-b1-c16:'), /: not measured$/)
})

test('workEach is read against pg-boss perJobResults; W7 against its ceiling', () => {
  const lines = targetLines([
    row('W5-perjob', { 'pg-boss': run(1000), native: run(2000) }),
    row('W5-each', { native: run(3100) }),
    row('W7-io-b50', { 'pg-boss': run(5000, { ceiling: 20000 }), native: run(18000, { ceiling: 20000 }) })
  ])
  assert.match(line(lines, 'W5-each:'), /3\.10x pg-boss.*: met$/)
  assert.match(line(lines, 'W7-io-b50:'), /90% of 20,000 jobs\/s.*: met$/)
})

test('CPU targets on W3/W4 and the graphile-worker comparison', () => {
  const lines = targetLines([
    row('W4-b100', { 'pg-boss': run(1000, { clientCpu: 4, serverCpu: 2 }), native: run(2000, { clientCpu: 1.2, serverCpu: 2 }) },
      { peers: { graphile: run(2500), bullmq: { notRun: 'no batches' } } }),
    row('W6-notify', { 'pg-boss': { p50: 3, p99: 6, check: 'ok' }, native: { p50: 1.9, p99: 5.2, check: 'ok' } }, { unit: 'ms', peers: { graphile: { p50: 2.5, p99: 9, check: 'ok' } } })
  ])
  assert.match(line(lines, 'W4-b100, client CPU:'), /0\.30 of pg-boss's, target <= 0\.25: missed$/)
  assert.match(line(lines, 'W4-b100, server CPU:'), /1\.00 of pg-boss's, target <= 1: met$/)
  assert.match(line(lines, 'W4-b100, against graphile-worker:'), /0\.80x graphile-worker, target ahead: missed$/)
  assert.match(line(lines, 'W6-notify:'), /p50 1\.90 \/ p99 5\.20 ms, .*: missed$/)
  assert.match(line(lines, 'W6-notify, against graphile-worker:'), /p50 1\.90 against 2\.50 ms, target ahead: met$/)
  assert.equal(lines.filter(l => l.includes('bullmq')).length, 0)
})

test('a prefetch row (pg-boss-native alone) is read against the pg-boss side of the row it repeats', () => {
  const lines = targetLines([
    row('W4-b100', { 'pg-boss': run(1000, { clientCpu: 4 }), native: run(2000, { clientCpu: 1.2 }) }),
    row('W4-b100-prefetch', { native: run(3100, { clientCpu: 0.8 }) })
  ])
  assert.match(line(lines, 'W4-b100-prefetch:'), /3\.10x pg-boss.*: met$/)
  assert.match(line(lines, 'W4-b100-prefetch, client CPU:'), /0\.20 of pg-boss's, target <= 0\.25: met$/)
})

test('a W3 prefetch row (a local queue) gets the W3 targets and the peer of the row it repeats', () => {
  const lines = targetLines([
    row('W3-b1-c1', { 'pg-boss': run(1000), native: run(2000) }, { peers: { graphile: run(20000) } }),
    row('W3-b1-c1-prefetch', { native: run(25000) }, { peers: { graphile: { notRun: 'not written for this workload' } } }),
    row('W3-b1-c16', { 'pg-boss': run(1000), native: run(5000) }),
    row('W3-b1-c16-prefetch', { native: run(5900) })
  ])
  assert.match(line(lines, 'W3-b1-c1-prefetch:'), /25\.00x pg-boss, target >= 3x pg-boss.*: met$/)
  assert.match(line(lines, 'W3-b1-c1-prefetch, against graphile-worker:'), /1\.25x graphile-worker, target ahead: met$/)
  assert.match(line(lines, 'W3-b1-c16-prefetch:'), /5\.90x pg-boss, target >= 6x pg-boss.*: missed$/)
  assert.equal(lines.filter(l => l.startsWith('W3-b1-c1:')).length, 1, 'c16 rows are not read as c1')
})
