// The CommonJS import forms, compiled against 'pg-boss-native'. Type-checked only; never run.

import PgBoss = require('pg-boss-native') // const PgBoss = require('pg-boss-native')
import Default from 'pg-boss-native'
import { PgBoss as Named, states, type Job, type QueueResult } from 'pg-boss-native'

const fromRequire: PgBoss = new PgBoss('postgres://localhost/app')
const fromNamed: Named = new PgBoss.PgBoss({ db: { executeSql: async () => ({ rows: [] }) } })
const fromDefault: Default = new PgBoss.default('postgres://localhost/app')
const viaInterop: Named = new Default({ schema: 'jobs' })

export async function example (): Promise<QueueResult | null> {
  await fromRequire.start()
  const jobs: Job<{ n: number }>[] = await fromNamed.fetch<{ n: number }>('q')
  await fromDefault.complete('q', jobs.map(job => job.id))
  await viaInterop.workEach<{ n: number }, number>('q', { concurrency: 8 }, job => job.data.n * 2)
  const failed: 'failed' = PgBoss.states.failed
  console.log(failed, states.created, new PgBoss.UnrecoverableError('x').retryable)
  return fromRequire.getQueue('q')
}
