// Typed pg-boss code, as an ESM user writes it, compiled against 'pg-boss-native'.
// Type-checked only (noEmit); never run.

import PgBoss, {
  PgBoss as NamedPgBoss,
  UnrecoverableError,
  events,
  addBins,
  getConstructionPlans,
  getIndexBloatPlans,
  getUninstallPlans,
  percentile,
  policies,
  rollbackV10Upgrade,
  states,
  upgradeFromV10,
  type UpgradeFromV10Report,
  type Job,
  type JobResult,
  type JobWithMetadata,
  type Metrics,
  type QueueResult,
  type SendOptions,
  type WorkEachOptions,
  type WorkHandler,
  type WorkOptions
} from 'pg-boss-native'

interface Email { to: string, subject: string }
interface Receipt { messageId: string }

// both import forms name the same class
const DefaultClass: typeof NamedPgBoss = PgBoss
const boss: NamedPgBoss = new DefaultClass({ connectionString: 'postgres://localhost/app', schema: 'jobs' })
const other: PgBoss = new PgBoss('postgres://localhost/app')

export async function lifecycle (): Promise<PgBoss> {
  boss.on('error', (err: Error) => console.error(err.message))
  boss.on('warning', (warning) => console.warn(warning.message, warning.data))
  boss.on('wip', (workers) => workers.forEach(w => console.log(w.name, w.state, w.count)))
  boss.once('stopped', () => {})
  const started: PgBoss = await boss.start()
  await other.start({ attempts: 5 })
  await other.stop({ graceful: true, timeout: 5000 })
  return started
}

export async function queues (): Promise<number> {
  await boss.createQueue('email', { policy: policies.standard, retryLimit: 3, deadLetter: 'email-dlq' })
  await boss.updateQueue('email', { retryDelayMax: null, heartbeatSeconds: 30 })
  const queue: QueueResult | null = await boss.getQueue('email')
  const all = await boss.getQueues(['email'])
  const stats = await boss.getQueueStats('email', { force: true })
  return (queue?.queuedCount ?? 0) + all.length + stats[0].readyCount
}

export async function sending (): Promise<string[]> {
  const options: SendOptions = { priority: 2, startAfter: new Date(), singletonKey: 'k', retryLimit: 1 }
  const id: string | null = await boss.send('email', { to: 'a@b.c', subject: 'hi' } satisfies Email, options)
  await boss.send({ name: 'email', data: { to: 'x' }, options: { expireInSeconds: 60 } })
  await boss.sendAfter('email', {}, null, 30)
  await boss.sendAfter('email', {}, { priority: 1 }, new Date())
  await boss.sendThrottled('email', {}, null, 60, 'key')
  await boss.sendDebounced('email', null, {}, 60)
  const ids = await boss.insert('email', [{ data: { to: 'a' } }, { data: { to: 'b' }, priority: 1 }], { returnId: true })
  return [id ?? '', ...(ids ?? [])]
}

export async function fetching (): Promise<void> {
  const jobs: Job<Email>[] = await boss.fetch<Email>('email', { batchSize: 10 })
  for (const job of jobs) {
    const to: string = job.data.to
    await boss.complete('email', job.id, { sentTo: to })
  }
  const detailed: JobWithMetadata<Email>[] = await boss.fetch<Email>('email', { includeMetadata: true })
  const state: 'created' | 'retry' | 'active' | 'completed' | 'cancelled' | 'failed' = detailed[0].state
  await boss.fail('email', detailed.map(j => j.id), { reason: state })
  await boss.complete('email', { id: detailed[0].id, retryCount: detailed[0].retryCount })
  await boss.cancel('email', 'id')
  await boss.resume('email', ['a', 'b'])
  await boss.deleteJob('email', 'id', { db: boss.getDb() })
  const found = await boss.findJobs<Email>('email', { queued: true, limit: 5 })
  const one = await boss.getJobById<Email>('email', 'id')
  console.log(found[0].data.subject, one?.output)
}

const sendEmail: WorkHandler<Email, Receipt> = async (jobs) => ({ messageId: jobs[0].data.to })

export async function workers (): Promise<string[]> {
  const a = await boss.work<Email, Receipt>('email', sendEmail)
  const b = await boss.work<Email>('email', { batchSize: 5, pollingIntervalSeconds: 1 }, async (jobs) => {
    jobs.forEach(job => job.signal.throwIfAborted())
    return jobs.map(job => job.data.subject)
  })
  // literal flags select the handler type (leave the type arguments to inference, as with pg-boss)
  const c = await boss.work('email', { includeMetadata: true }, async ([job]: JobWithMetadata<Email>[]) => job.createdOn.toISOString())

  // perJobResults: JobResult[] ...
  const d = await boss.work('email', { batchSize: 10, perJobResults: true }, async (jobs: Job<Email>[]) => {
    return jobs.map((job): JobResult => job.data.to ? { id: job.id, status: 'completed', output: { ok: true } } : { id: job.id, status: 'deadletter' })
  })
  // ... or, in pg-boss-native, the output of Promise.allSettled
  const e = await boss.work('email', { batchSize: 10, perJobResults: true }, async (jobs: Job<Email>[]) => {
    return Promise.allSettled(jobs.map(async job => {
      if (!job.data.to) throw new UnrecoverableError('no recipient')
      return { messageId: job.id }
    }))
  })
  const f = await boss.work('email', { perJobResults: true, includeMetadata: true }, async (jobs) =>
    jobs.map(job => ({ id: job.id, status: job.retryCount < job.retryLimit ? 'failed' : 'deadletter' })))

  // dynamically built options keep the permissive handler
  const dynamic: WorkOptions = { batchSize: 2, perJobResults: Math.random() > 0.5 }
  const g = await boss.work<Email>('email', dynamic, async () => 'anything')

  await boss.offWork('email', { id: a, wait: true })
  boss.notifyWorker(b)
  return [a, b, c, d, e, f, g]
}

export async function perJobWorkers (): Promise<string[]> {
  const a = await boss.workEach<Email, Receipt>('email', async (job) => ({ messageId: job.data.to }))
  const options: WorkEachOptions = { batchSize: 20, concurrency: 4, pollingIntervalSeconds: 0.5 }
  const b = await boss.workEach<Email>('email', options, (job) => {
    if (job.signal.aborted) throw new UnrecoverableError('aborted', { cause: job.signal.reason })
    return job.data.subject.length // a plain value is fine too
  })
  const c = await boss.workEach<Email>('email', { includeMetadata: true, concurrency: 2 }, async (job) => job.singletonKey)
  return [a, b, c]
}

export function observability (): number {
  const metrics: Metrics = boss.getMetrics()
  const queue = metrics.queues.email
  const worker = Object.values(queue.workers)[0]
  const text: string = boss.getMetrics({ format: 'prometheus' })
  const json: Metrics = boss.getMetrics({ format: 'json' })
  const wip = boss.getWipData({ includeInternal: false })
  return queue.completed + queue.deadLettered + queue.inFlight + queue.handlerLatencyMs.p99 +
    worker.fetchLatencyMs.max + text.length + Object.keys(json.queues).length + wip.length
}

export function constants (): string {
  const err = new UnrecoverableError('bad input')
  const retryable: false = err.retryable
  const base: Error = err
  const bins: number[] | null = [0, 2, 1]
  const p95: number | null = percentile(addBins(bins, null), 95)
  const sql: string = getUninstallPlans('jobs', { backend: 'postgres' }) + getIndexBloatPlans('jobs', { minPages: 0 })
  return [states.completed, policies.key_strict_fifo, events.wip, getConstructionPlans('jobs'), String(retryable), base.message, p95, sql].join()
}

export async function rejected (): Promise<void> {
  // @ts-expect-error start() attempts is a number
  await boss.start({ attempts: '5' })
  // @ts-expect-error payloads are objects (pg-boss's `data?: object | null`)
  await boss.send('email', 42)
  // @ts-expect-error a work() handler gets an array of jobs, not one job
  await boss.work<Email>('email', async (job: Job<Email>) => job.data.to)
  // @ts-expect-error a workEach() handler gets one job, not an array
  await boss.workEach<Email>('email', async (jobs: Job<Email>[]) => jobs.length)
  // @ts-expect-error workEach() settles each job on its own: no perJobResults
  await boss.workEach<Email>('email', { batchSize: 5, perJobResults: true }, async () => null)
  // @ts-expect-error perJobResults handlers resolve with an array of results
  await boss.work('email', { perJobResults: true }, async () => 'done')
  // @ts-expect-error the job data type is checked
  await boss.work<Email>('email', async (jobs) => jobs[0].data.from)
  // @ts-expect-error the prometheus format is text
  const metrics: Metrics = boss.getMetrics({ format: 'prometheus' })
  // @ts-expect-error unknown event
  boss.on('finished', () => {})
  // @ts-expect-error UnrecoverableError is never retryable
  const retryable: true = new UnrecoverableError('x').retryable
  console.log(metrics, retryable)
}

// schedules and the test clock
export async function scheduling (): Promise<void> {
  const { TestClock, scheduleKinds, scheduleMissedPolicies, previewScheduleMaxCount, enableClockOverride } = await import('pg-boss-native')
  const clock = new TestClock(new Date('2026-03-08T06:00:00Z'))
  const boss = new PgBoss({ connectionString: 'postgres://localhost/app', clock, cronMonitorIntervalSeconds: 30 })
  await boss.schedule('report', '0 9 * * *', { kind: 'daily' }, { tz: 'America/New_York', key: 'daily', missed: scheduleMissedPolicies.once })
  const schedules = await boss.getSchedules('report', undefined, { limit: 10, after: { name: 'report', key: '' } })
  const one = await boss.getSchedule('report', 'daily')
  const kind: 'cron' | 'rrule' | undefined = one?.kind
  const next: Date[] = boss.previewSchedule('FREQ=DAILY;BYHOUR=9', { tz: 'UTC', from: new Date(), count: previewScheduleMaxCount })
  await clock.tick(30_000)
  await clock.setTime(Date.now())
  const sql: string = enableClockOverride()
  const flags: boolean[] = [boss.isTimekeeping(), boss.isCheckingSkew(), boss.isBamWorking()]
  await boss.unschedule('report', 'daily')
  console.log(schedules.length, kind, next, scheduleKinds.rrule, sql, flags)
  // @ts-expect-error missed is 'skip' or 'once'
  await boss.schedule('report', '* * * * *', null, { missed: 'always' })
}

export async function editingAndRedriving (): Promise<number> {
  const edited: { jobs: string[], updated: number } = await boss.update('email', { to: 'new' }, { id: 'id', priority: 3 })
  await boss.update({ name: 'email', options: { singletonKey: 'k', match: 'all', startAfter: 0 } })
  const upserted = await boss.upsert('email', null, { singletonKey: 'k', retryLimit: 2, group: { id: 'g' } })
  await boss.upsert({ name: 'email', data: { to: 'x' }, options: { id: 'id', db: boss.getDb() } })
  const moved: number = await boss.redrive('email-dlq', { destination: 'email', sourceName: 'email', limit: 10 })
  const preview = await boss.previewRedrive('email-dlq', { data: { to: 'x' }, createdBefore: new Date(), ids: ['id'], limit: 100 })
  const keys: string[] = await boss.getBlockedKeys('fifo', { limit: 100, after: 'k' })
  return edited.updated + upserted.inserted + upserted.updated + moved + preview.total + preview.unroutable +
    preview.destinations[0].count + keys.length
}

// the v10 upgrade, pg-boss-native's own
async function upgradeV10 (): Promise<number> {
  const dry: UpgradeFromV10Report = await upgradeFromV10({ connectionString: 'postgres://x', schema: 'old' }, { dryRun: true })
  const plan: string | undefined = dry.plan
  const done = await upgradeFromV10('postgres://x', { batchSize: 5000, maxBatches: 10 })
  if (!done.finished) await rollbackV10Upgrade('postgres://x').then(r => r.version)
  return (plan?.length ?? 0) + (done.longestTransactionMs ?? 0)
}
void upgradeV10

// pg-boss v10 forms, still accepted (declared @deprecated)
export async function v10Calls (): Promise<string[] | null> {
  const v10 = new PgBoss({ connectionString: 'postgres://localhost/db', retryLimit: 3, expireInMinutes: 5, retentionDays: 7 })
  const ids = await v10.insert([{ name: 'email', data: { to: 'a' } }, { name: 'sms', data: { to: 'b' }, priority: 1 }])
  await v10.offWork({ id: 'work-id' })
  await v10.stop({ wait: false })
  // @ts-expect-error a v10 insert() job names its queue
  await v10.insert([{ data: { to: 'a' } }])
  return ids
}
