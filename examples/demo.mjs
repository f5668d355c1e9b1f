// npm run demo: a partial-failure batch with workEach().
//
// Twelve "send an invoice" jobs; some fail once and succeed on retry, one is poison
// (UnrecoverableError) and goes straight to the dead letter queue, the rest complete. Every job is
// settled on its own, and the handlers run at most four at a time.
//
// Uses DATABASE_URL, else the local server, else a throwaway PostgreSQL it starts and removes
// (examples/demo-database.mjs), and its own schema, dropped at the end.
import { PgBoss, UnrecoverableError } from '../index.mjs'
import { demoDatabase } from './demo-database.mjs'

const database = await demoDatabase()
console.log(`database: ${database.description}\n`)
try {
  await demo(database.options)
} finally {
  await database.stop()
}

async function demo (databaseOptions) {
  const schema = 'pgboss_native_demo'
  const boss = new PgBoss({ ...databaseOptions, schema, supervise: false, schedule: false })
  boss.on('error', err => console.error('error:', err.message))

  await boss.start()
  await boss.deleteQueue('invoices')
  await boss.deleteQueue('invoices-dead')
  await boss.createQueue('invoices-dead')
  await boss.createQueue('invoices', { retryLimit: 2, retryDelay: 1, deadLetter: 'invoices-dead' })

  const customers = ['ada', 'grace', 'linus', 'barbara', 'ken', 'margaret', 'dennis', 'frances', 'edsger', 'radia', 'tony', 'donald']
  await boss.insert('invoices', customers.map((customer, i) => ({ data: { customer, amount: 100 + i * 7 } })))
  console.log(`queued ${customers.length} invoices\n`)

  const attempts = new Map()
  let inFlight = 0
  let peak = 0

  await boss.workEach('invoices', { batchSize: 6, concurrency: 4, pollingIntervalSeconds: 0.5 }, async job => {
    inFlight++
    peak = Math.max(peak, inFlight)
    try {
      const { customer, amount } = job.data
      const attempt = (attempts.get(customer) ?? 0) + 1
      attempts.set(customer, attempt)
      await new Promise(resolve => setTimeout(resolve, 50 + Math.random() * 200))
      if (customer === 'linus') throw new UnrecoverableError(`no billing address for ${customer}`)
      if ((customer === 'grace' || customer === 'ken') && attempt === 1) throw new Error(`payment gateway timeout for ${customer}`)
      return { invoice: `INV-${customer.toUpperCase()}-${amount}`, attempt }
    } finally {
      inFlight--
    }
  })

  // Wait until every invoice is completed or failed, reading the database, not callbacks.
  for (;;) {
    const jobs = await boss.findJobs('invoices', { limit: 100 })
    if (jobs.every(j => j.state === 'completed' || j.state === 'failed')) break
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  await boss.offWork('invoices')

  const jobs = await boss.findJobs('invoices', { limit: 100 })
  for (const job of jobs.sort((a, b) => a.data.customer.localeCompare(b.data.customer))) {
    const detail = job.state === 'completed'
      ? `${job.output.invoice} (attempt ${job.output.attempt})`
      : `${job.output.name}: ${job.output.message}`
    console.log(`${job.data.customer.padEnd(9)} ${job.state.padEnd(10)} retries=${job.retryCount}  ${detail}`)
  }
  const dead = await boss.findJobs('invoices-dead', { limit: 100 })
  console.log(`\ndead letter queue: ${dead.map(j => `${j.data.customer} (from ${j.sourceName})`).join(', ') || 'empty'}`)
  const m = boss.getMetrics().queues.invoices
  console.log(`metrics: fetched=${m.fetched} completed=${m.completed} retried=${m.retried} failed=${m.failed} deadLettered=${m.deadLettered} peak concurrency=${peak}`)
  console.log(`handler latency ms: p50=${m.handlerLatencyMs.p50} p99=${m.handlerLatencyMs.p99}; settle latency ms: p50=${m.settleLatencyMs.p50}`)

  await boss.stop()
  const { pg } = await import('../__test__/helpers.mjs').catch(() => ({}))
  if (pg && databaseOptions.connectionString) {
    const client = new pg.Client({ connectionString: databaseOptions.connectionString })
    await client.connect()
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await client.end()
  }
}
