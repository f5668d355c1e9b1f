// What the upgrade tests ask of an upgraded schema: pg-boss 12.38 finds no drift in it, and both
// implementations work on its queues.
import assert from 'node:assert/strict'
import { PgBoss } from '../../index.mjs'
import { connectionString, schemaVersion, startBoss, startPgBoss } from '../helpers.mjs'

/** pg-boss 12.38's detectSchemaDrift() is ok on `schema` (and, with `built`, builds nothing). */
export async function assertNoDrift (schema, { built = false } = {}) {
  const ref = await startPgBoss(schema, { migrate: false })
  try {
    const drift = await ref.detectSchemaDrift()
    assert.equal(drift.ok, true, JSON.stringify(drift))
    if (built) assert.deepEqual(drift.building, [])
  } finally {
    await ref.stop({ graceful: false })
  }
}

/**
 * Both implementations send, fetch and complete on every queue of `schema` that `where` (SQL on
 * the queue table) picks, at least `atLeast` of them, each working what the other sent.
 */
export async function assertBothWork (db, schema, { where, atLeast }) {
  const ours = await startBoss(schema, { migrate: false })
  const ref = await startPgBoss(schema, { migrate: false })
  try {
    const { rows: queues } = await db.query(`SELECT name FROM ${schema}.queue WHERE ${where} ORDER BY name`)
    assert.ok(queues.length >= atLeast)
    for (const { name } of queues) {
      for (const [sender, worker] of [[ours, ref], [ref, ours]]) {
        const id = await sender.send(name, { after: true }, { singletonKey: `new-${sender === ours}`, priority: 10 })
        assert.ok(id, `send on ${name}`)
        const jobs = await worker.fetch(name, { batchSize: 20 })
        assert.ok(jobs.some(j => j.id === id), `fetch on ${name} returns the new job`)
        await worker.complete(name, id, { done: name })
        const job = await sender.getJobById(name, id)
        assert.equal(job.state, 'completed', `${name}: ${JSON.stringify(job)}`)
      }
    }
  } finally {
    await ours.stop()
    await ref.stop({ graceful: false })
  }
}

/**
 * Two pg-boss-native instances started at once on `schema`: both starts succeed and leave it at
 * 46; `check()` then runs while both are still up.
 */
export async function assertRacedStarts (db, schema, check = async () => {}) {
  const a = new PgBoss({ connectionString, schema, supervise: false, schedule: false })
  const b = new PgBoss({ connectionString, schema, supervise: false, schedule: false })
  const results = await Promise.allSettled([a.start(), b.start()])
  try {
    for (const r of results) assert.equal(r.status, 'fulfilled', String(r.reason?.stack ?? r.reason))
    assert.equal(await schemaVersion(db, schema), 46)
    await check()
  } finally {
    await a.stop()
    await b.stop()
  }
}
