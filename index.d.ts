// Public types of pg-boss-native: pg-boss 12.38's API, so code typed against `pg-boss` compiles
// unchanged against `pg-boss-native`, plus workEach(), allSettled per-job results,
// UnrecoverableError and getMetrics(). The option and result shapes live in ./types/.
//
// The module is the class (`module.exports = PgBoss`, as index.js does) and carries every other
// export, so all of these type-check from CommonJS and ESM alike:
//   import { PgBoss, states } from 'pg-boss-native'   import PgBoss from 'pg-boss-native'
//   const { PgBoss } = require('pg-boss-native')       const PgBoss = require('pg-boss-native')

import { EventEmitter } from 'node:events'
import type {
  AsyncMigrationCommand, AttachableClock, BackendOptions, BackendProfile, BunReservedSqlLike, BunSqlLike,
  Clock, ClockTimer, ConstructionPlanOptions, ConstructorOptions, DatabaseOptions, DrizzleSqlTagLike,
  DrizzleTransactionLike, IDatabase, IndexBloatOptions, InstanceOptions, KnexTransactionLike,
  KyselyTransactionLike, MaintenanceOptions, MigrationPartition, MigrationPlanOptions, OpenTelemetryOptions,
  PGliteLike, PlanOptions, PoolCounts, PrismaTransactionLike, ReindexOptions, SchedulingOptions,
  StartOptions, StopOptions, SuperviseOptions
} from './types/config.js'
import type {
  CommandResponse, CompleteOptions, ConnectionOptions, DependencyRef, FetchGroupConcurrencyOptions,
  FetchOptions, FindJobsOptions, FlowJob, GroupConcurrencyConfig, GroupOptions, InsertOptions, Job,
  JobAttempt, JobFetchOptions, JobInsert, JobMatchStrategy, JobOptions, JobStates, JobWithMetadata,
  ListOptions, RedriveFilter, RedriveOptions, RedrivePreview, RedrivePreviewOptions, Request, SendOptions,
  UpdateOptions, UpdateRequest, UpdateResponse, UpsertResponse, V10JobInsert
} from './types/jobs.js'
import type {
  BamEntry, BamEvent, BamStatusSummary, ConstraintDrift, EnumDrift, Events, IndexBloat, Instance,
  InstanceMetrics, InstanceWorker, InvalidIndex, JobDataSelector, JobSelector, JobSpyInterface,
  JobSpyState, ManagedFunction, ManagedIndex, MismatchedFunction, MismatchedIndex, PgBossEventMap,
  SchemaDriftReport, SpyJob, TableColumnDrift, Warning
} from './types/operations.js'
import type {
  PreviewScheduleOptions, Queue, QueueOptions, QueuePolicy, QueueResult, QueueStats, QueueStatsOptions,
  QueueStatsPercentile, Schedule, ScheduleKind, ScheduleOptions, UpdateQueueOptions
} from './types/queues.js'
import type {
  JobPollingOptions, JobResult, JobResultStatus, LatencySummary, Metrics, MetricsOptions, OffWorkOptions,
  PerJobWorkHandler, PerJobWorkWithMetadataHandler, QueueMetrics, WipData, WorkConcurrencyOptions,
  WorkEachHandler, WorkEachOptions, WorkEachWithMetadataHandler, WorkerMetrics, WorkerState, WorkHandler,
  WorkHandlerFor, WorkOptions, WorkWithMetadataHandler
} from './types/workers.js'

/** Ids of the jobs to act on: one id, several, or the fetched attempts themselves (see `JobAttempt`). */
type JobIds = string | string[] | JobAttempt | JobAttempt[]

declare class PgBoss extends EventEmitter<PgBossEventMap> {
  #private
  constructor(connectionString: string)
  constructor(options: ConstructorOptions)

  // ---- lifecycle ----

  /** Installs or migrates the schema (with `migrate`), then starts maintenance, cron and workers' timers. */
  start(options?: StartOptions): Promise<this>
  stop(options?: StopOptions): Promise<void>
  isInstalled(): Promise<boolean>
  schemaVersion(): Promise<number | null>
  getDb(): IDatabase

  // ---- sending ----

  send(request: Request): Promise<string | null>
  send(name: string, data?: object | null, options?: SendOptions): Promise<string | null>
  sendAfter(name: string, data: object | null, options: SendOptions | null, date: Date): Promise<string | null>
  sendAfter(name: string, data: object | null, options: SendOptions | null, dateString: string): Promise<string | null>
  sendAfter(name: string, data: object | null, options: SendOptions | null, seconds: number): Promise<string | null>
  sendThrottled(name: string, data: object | null, options: SendOptions | null, seconds: number, key?: string): Promise<string | null>
  sendDebounced(name: string, data: object | null, options: SendOptions | null, seconds: number, key?: string): Promise<string | null>
  update(request: UpdateRequest): Promise<UpdateResponse>
  update(name: string, data: object | null | undefined, options?: UpdateOptions): Promise<UpdateResponse>
  upsert(request: UpdateRequest): Promise<UpsertResponse>
  upsert(name: string, data: object | null | undefined, options?: UpdateOptions): Promise<UpsertResponse>
  // the @deprecated v10 overloads come first: the last one is pg-boss 12.38's (types.test compares it)
  /**
   * @deprecated pg-boss v10's form, each job naming its queue: use `insert(name, jobs)`. Jobs are
   * inserted queue by queue (one statement per queue), with a one-time DeprecationWarning.
   */
  insert(jobs: V10JobInsert[], options?: InsertOptions): Promise<string[] | null>
  insert(name: string, jobs: JobInsert[], options?: InsertOptions): Promise<string[] | null>
  /** Inserts jobs with dependencies between them; resolves each `ref` to its job id. */
  flow(jobs: FlowJob[], options?: ConnectionOptions): Promise<Record<string, string>>

  // ---- fetching and settling ----

  fetch<T>(name: string, options: FetchOptions & { includeMetadata: true }): Promise<JobWithMetadata<T>[]>
  fetch<T>(name: string, options?: FetchOptions): Promise<Job<T>[]>
  complete(name: string, id: JobIds, data?: object | null, options?: CompleteOptions): Promise<CommandResponse>
  fail(name: string, id: JobIds, data?: object | null, options?: ConnectionOptions): Promise<CommandResponse>
  cancel(name: string, id: JobIds, options?: ConnectionOptions): Promise<CommandResponse>
  resume(name: string, id: string | string[], options?: ConnectionOptions): Promise<CommandResponse>
  retry(name: string, id: string | string[], options?: ConnectionOptions): Promise<CommandResponse>
  deleteJob(name: string, id: JobIds, options?: ConnectionOptions): Promise<CommandResponse>
  /** Heartbeat: keeps active jobs of a `heartbeatSeconds` queue from being failed. */
  touch(name: string, id: JobIds, options?: ConnectionOptions): Promise<CommandResponse>
  /** @deprecated Use findJobs() instead */
  getJobById<T>(name: string, id: string, options?: ConnectionOptions): Promise<JobWithMetadata<T> | null>
  findJobs<T>(name: string, options?: FindJobsOptions): Promise<JobWithMetadata<T>[]>
  /** Moves dead-lettered jobs back to their source queue (or `destination`); resolves how many moved. */
  redrive(name: string, options?: RedriveOptions): Promise<number>
  previewRedrive(name: string, options?: RedrivePreviewOptions): Promise<RedrivePreview>
  getDependencies(name: string, id: string, options?: ConnectionOptions & ListOptions<DependencyRef>): Promise<DependencyRef[]>
  getDependents(name: string, id: string, options?: ConnectionOptions & ListOptions<DependencyRef>): Promise<DependencyRef[]>
  getBlockedKeys(name: string, options?: ListOptions): Promise<string[]>

  // ---- workers ----

  /** Polls `name` and calls `handler` with each batch of jobs (arrays, `batchSize` 1 by default); resolves the work id. */
  work<ReqData, ResData = any>(name: string, handler: WorkHandler<ReqData, ResData>): Promise<string>
  work<ReqData, ResData = any, const O extends WorkOptions = WorkOptions>(name: string, options: O, handler: WorkHandlerFor<O, ReqData, ResData>): Promise<string>
  /**
   * pg-boss-native: calls `handler` with ONE job at a time. Each claim takes as many jobs as there
   * are free slots (at most `batchSize`), at most `concurrency` handlers run at once (a slot is
   * free again once its job's outcome is written), freed slots refill without waiting for
   * the rest of the batch, and outcomes are written back in coalesced batches. A handler's value
   * completes its job; a throw fails only that job (terminally for an `UnrecoverableError`).
   * Resolves the work id, which `offWork()` accepts.
   */
  workEach<ReqData, ResData = any>(name: string, handler: WorkEachHandler<ReqData, ResData>): Promise<string>
  workEach<ReqData, ResData = any>(name: string, options: WorkEachOptions & { includeMetadata: true }, handler: WorkEachWithMetadataHandler<ReqData, ResData>): Promise<string>
  workEach<ReqData, ResData = any>(name: string, options: WorkEachOptions, handler: WorkEachHandler<ReqData, ResData>): Promise<string>
  /** @deprecated pg-boss v10's form: use `offWork(name, { id })`. Stops that worker without waiting for it. */
  offWork(options: { id: string }): Promise<void>
  offWork(name: string, options?: OffWorkOptions): Promise<void>
  notifyWorker(workerId: string): void
  getWipData(options?: { includeInternal?: boolean }): WipData[]
  /** pg-boss-native: batch counters and latencies per queue and per worker, since start. */
  getMetrics(options: { format: 'prometheus' }): string
  getMetrics(options?: MetricsOptions & { format?: 'json' }): Metrics

  // ---- pub/sub ----

  subscribe(event: string, name: string): Promise<void>
  unsubscribe(event: string, name: string): Promise<void>
  publish(event: string, data?: object, options?: SendOptions): Promise<void>

  // ---- queues ----

  createQueue(name: string, options?: Omit<Queue, 'name'>): Promise<void>
  updateQueue(name: string, options?: UpdateQueueOptions): Promise<void>
  deleteQueue(name: string): Promise<void>
  getQueues(names?: string[], options?: ListOptions): Promise<QueueResult[]>
  getQueue(name: string): Promise<QueueResult | null>
  getQueueStats(name: string, options?: QueueStatsOptions): Promise<QueueStats[]>
  deleteQueuedJobs(name: string): Promise<number>
  deleteStoredJobs(name: string): Promise<number>
  deleteAllJobs(name?: string): Promise<number | null>

  // ---- scheduling ----

  /** Schedules `name` on a cron expression or an RFC 5545 rule such as `FREQ=MONTHLY;BYDAY=-1FR`. */
  schedule(name: string, cron: string, data?: object | null, options?: ScheduleOptions): Promise<void>
  unschedule(name: string, key?: string, options?: ConnectionOptions): Promise<void>
  getSchedules(name?: string, key?: string, options?: ListOptions<Pick<Schedule, 'name' | 'key'>>): Promise<Schedule[]>
  getSchedule(name: string, key?: string): Promise<Schedule | null>
  previewSchedule(cron: string, options?: PreviewScheduleOptions): Date[]

  // ---- operations ----

  getInstances(options?: ListOptions): Promise<Instance[]>
  supervise(name?: string, options?: SuperviseOptions): Promise<void>
  resolveFlow(): Promise<void>
  isMaintaining(): boolean
  isBamWorking(): boolean
  isResolvingFlow(): boolean
  isCheckingSkew(): boolean
  isTimekeeping(): boolean
  /** The `REINDEX INDEX CONCURRENTLY` statements for bloated job indexes, for an operator to run. */
  getReindexCommands(options?: ReindexOptions): Promise<string[]>
  detectSchemaDrift(): Promise<SchemaDriftReport>
  getBamStatus(): Promise<BamStatusSummary[]>
  getBamEntries(options?: ListOptions): Promise<BamEntry[]>
  getSpy<T = object>(name: string): JobSpyInterface<T>
  clearSpies(): void
}

/**
 * pg-boss-native: throw it (or any error with `retryable: false`) from a handler to fail the job
 * for good: remaining retries are skipped and the job goes to the queue's dead letter queue.
 */
declare class UnrecoverableError extends Error {
  constructor(message?: string, options?: { cause?: unknown })
  readonly retryable: false
}

declare const states: Readonly<JobStates>
declare const policies: Readonly<{
  standard: 'standard'
  short: 'short'
  singleton: 'singleton'
  stately: 'stately'
  exclusive: 'exclusive'
  key_strict_fifo: 'key_strict_fifo'
}>
declare const events: Readonly<Events>
declare const scheduleKinds: Readonly<{ cron: 'cron', rrule: 'rrule' }>
declare const scheduleMissedPolicies: Readonly<{ skip: 'skip', once: 'once' }>
/** The most occurrences one `previewSchedule()` call returns. */
declare const previewScheduleMaxCount: 1000

/** Real time: the clock an instance uses when none is given. */
declare const systemClock: Clock
/**
 * Time a test moves by hand (`setTime()`, `tick()`); timers fire only inside `tick()`. Given as
 * the `clock` option, it is attached to the schema on start, so `job_now()` reads the same time.
 */
declare class TestClock implements AttachableClock {
  #private
  constructor(start?: Date | number | string)
  now(): number
  setTimeout(fn: () => void, ms: number): ClockTimer
  setInterval(fn: () => void, ms: number): ClockTimer
  clearTimeout(handle: ClockTimer): void
  clearInterval(handle: ClockTimer): void
  setTime(t: Date | number | string): Promise<void>
  tick(ms: number): Promise<void>
  attach(target: { db: IDatabase, schema: string, idle?: () => Promise<boolean> }): Promise<AsyncDisposable>
}
/** The session setting a TestClock's `job_now()` reads. */
declare const CLOCK_OVERRIDE_SETTING = 'pgboss.test_clock'
declare function enableClockOverride(): string
declare function disableClockOverride(): string

/** The SQL that installs the schema, as one script. */
declare function getConstructionPlans(schema?: string, options?: ConstructionPlanOptions): string
/** The SQL that migrates the schema from `version` to the current one. */
declare function getMigrationPlans(schema?: string, version?: number, options?: MigrationPlanOptions): string
/** The SQL that rolls the schema back from `version`. */
declare function getRollbackPlans(schema?: string, version?: number, options?: PlanOptions): string
/** The catalog query that finds bloated job indexes, as SQL text (PostgreSQL only). */
declare function getIndexBloatPlans(schema?: string, options?: IndexBloatOptions): string
/** The SQL that removes every object pg-boss installs, for a schema shared with other objects. */
declare function getUninstallPlans(schema?: string, options?: PlanOptions): string

/** upgradeFromV10()'s options. */
interface UpgradeFromV10Options {
  /** Answer the plan (SQL) and the rows it would move; change nothing. */
  dryRun?: boolean
  /** Rows per batch (each batch is one transaction); 1 to 1000000, default 10000. */
  batchSize?: number
  /** Stop after this many batches; a later call (or start()) carries on. */
  maxBatches?: number
}
/** What upgradeFromV10() did (or, with dryRun, would do). */
interface UpgradeFromV10Report {
  schema: string
  fromVersion?: number | null
  toVersion?: number
  /** This call ran the first transaction (false when it carried on with one begun before). */
  began?: boolean
  batches?: number
  batchSize?: number
  /** Job rows moved into schema 46. */
  moved?: number
  /** Rows a batch could not insert (a unique slot a job sent during the move took), kept as JSON in `<schema>_v10.v10_unmoved`. */
  unmoved?: number
  /** The v10 schema is gone: nothing is left to move. */
  finished: boolean
  alreadyUpgraded?: boolean
  totalMs?: number
  beginMs?: number | null
  finishMs?: number | null
  /** The longest single transaction of the run, in milliseconds. */
  longestTransactionMs?: number
  dryRun?: boolean
  plan?: string
  counts?: { jobs: Record<string, number>, archive: Record<string, number>, queues?: number, schedules?: number, subscriptions?: number }
  rowsToMove?: number
}
/** Upgrade a pg-boss 10 schema (21-24) to 46 in place, in batches; carries on with one that stopped part way. */
declare function upgradeFromV10(config: ConstructorOptions | string, options?: UpgradeFromV10Options): Promise<UpgradeFromV10Report>
/**
 * Put back the pg-boss 10 schema an unfinished upgradeFromV10() (or start()) moved aside, with every job;
 * `unrestored` counts the jobs v10 could not take back (a unique slot already held), kept as JSON in `<schema>.v46_unrestored`.
 */
declare function rollbackV10Upgrade(config: ConstructorOptions | string): Promise<{ schema: string, version: number, rolledBack: true, unrestored: number, totalMs: number }>

type Bins = number[] | null | undefined
/** Two wait or run histograms added bin by bin; a null histogram counts as empty, null when both are. */
declare function addBins(a: Bins, b: Bins): number[] | null
/** The seconds below which `p` percent (1 to 100) of a histogram's jobs fall; null for an empty one. */
declare function percentile(bins: Bins, p: number): number | null

// ---- ORM and driver adapters: a transaction or client as the `db` option's IDatabase ----

/** A knex transaction (or knex instance); `$n` placeholders become knex's `?` bindings. */
declare function fromKnex(trx: KnexTransactionLike): IDatabase
/** A Kysely transaction (or Kysely instance) on its PostgreSQL dialect. */
declare function fromKysely(trx: KyselyTransactionLike): IDatabase
/** A drizzle-orm transaction (node-postgres or postgres-js), with drizzle-orm's `sql` tag. */
declare function fromDrizzle(tx: DrizzleTransactionLike, sql: DrizzleSqlTagLike): IDatabase
/** A Prisma 7 interactive transaction (or client) over a driver adapter such as @prisma/adapter-pg. */
declare function fromPrisma(tx: PrismaTransactionLike): IDatabase
/** An in-process PGlite, for `new PgBoss({ backend: 'pglite', db: fromPglite(pglite) })`. */
declare function fromPglite(pglite: PGliteLike): IDatabase
/** Bun's built-in PostgreSQL client (`new SQL(url)` from 'bun'). */
declare function fromBunSql(client: BunSqlLike): IDatabase

declare namespace PgBoss {
  export { PgBoss, PgBoss as default, UnrecoverableError, states, policies, events }
  export { fromKnex, fromKysely, fromDrizzle, fromPrisma, fromPglite, fromBunSql }
  export { scheduleKinds, scheduleMissedPolicies, previewScheduleMaxCount }
  export { systemClock, TestClock, CLOCK_OVERRIDE_SETTING, enableClockOverride, disableClockOverride }
  export { getConstructionPlans, getMigrationPlans, getRollbackPlans, getIndexBloatPlans, getUninstallPlans }
  export { upgradeFromV10, rollbackV10Upgrade }
  export { addBins, percentile }

  // pg-boss 12.38's exported types
  export type {
    AsyncMigrationCommand, AttachableClock, BackendOptions, BackendProfile, BamEntry, BamEvent,
    BamStatusSummary, BunReservedSqlLike, BunSqlLike, Clock, ClockTimer, CommandResponse, CompleteOptions,
    ConnectionOptions, ConstraintDrift, ConstructorOptions, DatabaseOptions, IDatabase as Db, DependencyRef,
    DrizzleSqlTagLike, DrizzleTransactionLike, EnumDrift, Events, FetchGroupConcurrencyOptions, FetchOptions,
    FindJobsOptions, FlowJob, GroupConcurrencyConfig, GroupOptions, IndexBloat, IndexBloatOptions, InsertOptions,
    Instance, InstanceMetrics, InstanceOptions, InstanceWorker, InvalidIndex, Job, JobAttempt, JobDataSelector,
    JobFetchOptions, JobInsert, JobMatchStrategy, JobOptions, JobPollingOptions, JobResult, JobResultStatus,
    JobSelector, JobSpyInterface, JobSpyState, JobStates, JobWithMetadata, KnexTransactionLike,
    KyselyTransactionLike, ListOptions, MaintenanceOptions, ManagedFunction, ManagedIndex, MigrationPartition,
    MismatchedFunction, MismatchedIndex, OffWorkOptions, OpenTelemetryOptions, PerJobWorkHandler,
    PerJobWorkWithMetadataHandler, PgBossEventMap, PGliteLike, PoolCounts, PreviewScheduleOptions,
    PrismaTransactionLike, Queue, QueueOptions, QueuePolicy, QueueResult, QueueStats, QueueStatsOptions,
    QueueStatsPercentile, RedriveFilter, RedriveOptions, RedrivePreview, RedrivePreviewOptions, ReindexOptions,
    Request, Schedule, ScheduleKind, ScheduleOptions, SchedulingOptions, SchemaDriftReport, SendOptions,
    SpyJob, StopOptions, SuperviseOptions, TableColumnDrift, UpdateOptions, UpdateQueueOptions, UpdateRequest,
    UpdateResponse, UpsertResponse, Warning, WipData, WorkConcurrencyOptions, WorkerState, WorkHandler,
    WorkHandlerFor, WorkOptions, WorkWithMetadataHandler
  }

  // pg-boss-native's own
  export type {
    IDatabase, LatencySummary, Metrics, MetricsOptions, QueueMetrics, UpgradeFromV10Options, UpgradeFromV10Report,
    V10JobInsert, WorkEachHandler, WorkEachOptions,
    WorkEachWithMetadataHandler, WorkerMetrics
  }
}

export = PgBoss
