// LISTEN/NOTIFY: a send to a notify queue wakes a worker polling every 30 s at once, whether the
// sender is pg-boss-native or pg-boss 12.38.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss } from '../index.mjs'
import { connectionString, dropSchema, startPgBoss } from './helpers.mjs'

const schema = 'pgbn_test_notify'
let boss

before(async () => {
  await dropSchema(schema)
  boss = new PgBoss({ connectionString, schema, supervise: false, schedule: false, useListenNotify: true })
  boss.on('error', () => {})
  await boss.start()
  await boss.createQueue('pushed', { notify: true })
})

after(async () => {
  await boss.stop({ graceful: false })
  await dropSchema(schema)
})

async function handledWithin (send, ms) {
  let resolve
  const handled = new Promise(r => { resolve = r })
  const id = await send()
  const started = Date.now()
  const result = await Promise.race([handled.then(() => Date.now() - started), new Promise(r => setTimeout(() => r(null), ms))])
  return { id, result, resolve }
}

test('a job sent to a notify queue reaches a worker polling every 30 s without waiting for the poll', async () => {
  let onJob = () => {}
  await boss.work('pushed', { pollingIntervalSeconds: 30 }, async () => onJob())
  // the worker's first fetch happens at once; wait until it is asleep in its 30 s poll
  await new Promise(r => setTimeout(r, 1000))
  for (const sender of ['native', 'pg-boss']) {
    const other = sender === 'pg-boss' ? await startPgBoss(schema, { migrate: false }) : boss
    const handled = new Promise(resolve => { onJob = resolve })
    const started = Date.now()
    await other.send('pushed', { sender })
    const winner = await Promise.race([handled.then(() => 'handled'), new Promise(r => setTimeout(() => r('timeout'), 5000))])
    assert.equal(winner, 'handled', `${sender} send did not wake the worker`)
    assert.ok(Date.now() - started < 5000)
    if (other !== boss) await other.stop({ graceful: false })
    await new Promise(r => setTimeout(r, 500))
  }
})
