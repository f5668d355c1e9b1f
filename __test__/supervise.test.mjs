// Supervision is shared with pg-boss through the same claim columns: a pass one side ran is not
// run again by the other within the interval.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss } from '../index.mjs'
import { connectionString, dropSchema, pool, startPgBoss } from './helpers.mjs'

const schema = 'pgbn_test_supervise'
let db

before(async () => { await dropSchema(schema); db = pool() })
after(async () => { await dropSchema(schema); await db.end() })

async function claims (name) {
  const { rows } = await db.query(`SELECT monitor_claim_on, monitor_on, maintain_on FROM ${schema}.queue WHERE name = $1`, [name])
  return rows[0]
}

test('a supervise pass claimed by one side is not run again by the other within the interval', async () => {
  const ours = new PgBoss({ connectionString, schema, supervise: false, schedule: false })
  await ours.start()
  const theirs = await startPgBoss(schema, { migrate: false })
  try {
    await ours.createQueue('gated')
    await ours.send('gated', {})
    await ours.supervise('gated')
    const first = await claims('gated')
    assert.ok(first.monitor_claim_on && first.maintain_on && first.monitor_on, 'our pass claimed monitor and maintenance')
    const [stats] = await ours.getQueueStats('gated')
    assert.equal(stats.queuedCount, 1)
    await theirs.supervise('gated')
    const second = await claims('gated')
    assert.deepEqual(second, first, 'pg-boss did not run the pass again')

    await db.query(`UPDATE ${schema}.queue SET monitor_claim_on = NULL, monitor_on = NULL, maintain_on = NULL WHERE name = 'gated'`)
    await theirs.supervise('gated')
    const third = await claims('gated')
    assert.ok(third.monitor_claim_on && third.maintain_on)
    await ours.supervise('gated')
    assert.deepEqual(await claims('gated'), third, 'we did not run the pass pg-boss just ran')
  } finally {
    await theirs.stop({ graceful: false })
    await ours.stop({ graceful: false })
  }
})

test('with persistWarnings a backlog warning is stored in the warning table, as pg-boss stores it', async () => {
  const ours = new PgBoss({ connectionString, schema, supervise: false, schedule: false, persistWarnings: true })
  const warnings = []
  ours.on('warning', w => warnings.push(w))
  await ours.start()
  const theirs = await startPgBoss(schema, { migrate: false, persistWarnings: true })
  try {
    for (const [boss, name] of [[ours, 'backlog-ours'], [theirs, 'backlog-theirs']]) {
      await boss.createQueue(name, { warningQueueSize: 1 })
      await boss.send(name, {})
      await boss.send(name, {})
      await boss.supervise(name)
    }
    assert.equal(warnings.length, 1)
    const { rows } = await db.query(`SELECT type, message, data FROM ${schema}.warning WHERE message LIKE '%backlog-%' ORDER BY message`)
    assert.deepEqual(rows.map(r => [r.type, r.message.replace('backlog-ours', 'backlog-theirs')]), [
      ['queue_backlog', rows[1].message],
      ['queue_backlog', rows[1].message]
    ])
    assert.equal(rows[0].message, warnings[0].message)
    assert.deepEqual(rows[0].data, warnings[0].data)
  } finally {
    await ours.stop()
    await theirs.stop({ graceful: false })
  }
})
