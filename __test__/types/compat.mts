// Structural compatibility with pg-boss 12.38's published types: every type pg-boss exports exists
// in pg-boss-native and is assignable both ways (where we deliberately widen a type, pg-boss's is
// assignable to ours), every PgBoss member exists with a signature usable where pg-boss's is, and
// values typed with pg-boss's types flow into pg-boss-native's API. Type-checked only; never run.

import type * as Boss from 'pg-boss'
import type * as Native from 'pg-boss-native'
import type { EventEmitter } from 'node:events'
import { PgBoss } from 'pg-boss-native'

/** A and B are assignable to each other. */
type Mutual<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
/** A is assignable to B. */
type Assignable<A, B> = [A] extends [B] ? true : false
type IsNever<T> = [T] extends [never] ? true : false
type Check<T extends true> = T

interface Payload { id: number, tags: string[] }
interface Out { ok: boolean }

// ---- every exported type of pg-boss 12.38, both ways ----

export type ExportedTypes = [
  Check<Mutual<Native.AsyncMigrationCommand, Boss.AsyncMigrationCommand>>,
  Check<Mutual<Native.AttachableClock, Boss.AttachableClock>>,
  Check<Mutual<Native.BackendOptions, Boss.BackendOptions>>,
  Check<Mutual<Native.BackendProfile, Boss.BackendProfile>>,
  Check<Mutual<Native.BamEntry, Boss.BamEntry>>,
  Check<Mutual<Native.BamEvent, Boss.BamEvent>>,
  Check<Mutual<Native.BamStatusSummary, Boss.BamStatusSummary>>,
  Check<Mutual<Native.BunReservedSqlLike, Boss.BunReservedSqlLike>>,
  Check<Mutual<Native.BunSqlLike, Boss.BunSqlLike>>,
  Check<Mutual<Native.Clock, Boss.Clock>>,
  Check<Mutual<Native.ClockTimer, Boss.ClockTimer>>,
  Check<Mutual<Native.CommandResponse, Boss.CommandResponse>>,
  Check<Mutual<Native.CompleteOptions, Boss.CompleteOptions>>,
  Check<Mutual<Native.ConnectionOptions, Boss.ConnectionOptions>>,
  Check<Mutual<Native.ConstraintDrift, Boss.ConstraintDrift>>,
  Check<Mutual<Native.ConstructorOptions, Boss.ConstructorOptions>>,
  Check<Mutual<Native.DatabaseOptions, Boss.DatabaseOptions>>,
  Check<Mutual<Native.Db, Boss.Db>>,
  Check<Mutual<Native.IDatabase, Boss.Db>>,
  Check<Mutual<Native.DependencyRef, Boss.DependencyRef>>,
  Check<Mutual<Native.DrizzleSqlTagLike, Boss.DrizzleSqlTagLike>>,
  Check<Mutual<Native.DrizzleTransactionLike, Boss.DrizzleTransactionLike>>,
  Check<Mutual<Native.EnumDrift, Boss.EnumDrift>>,
  Check<Mutual<Native.Events, Boss.Events>>,
  Check<Mutual<Native.FetchGroupConcurrencyOptions, Boss.FetchGroupConcurrencyOptions>>,
  Check<Mutual<Native.FetchOptions, Boss.FetchOptions>>,
  Check<Mutual<Native.FindJobsOptions, Boss.FindJobsOptions>>,
  Check<Mutual<Native.FlowJob, Boss.FlowJob>>,
  Check<Mutual<Native.GroupConcurrencyConfig, Boss.GroupConcurrencyConfig>>,
  Check<Mutual<Native.GroupOptions, Boss.GroupOptions>>,
  Check<Mutual<Native.IndexBloat, Boss.IndexBloat>>,
  Check<Mutual<Native.IndexBloatOptions, Boss.IndexBloatOptions>>,
  Check<Mutual<Native.InsertOptions, Boss.InsertOptions>>,
  Check<Mutual<Native.Instance, Boss.Instance>>,
  Check<Mutual<Native.InstanceMetrics, Boss.InstanceMetrics>>,
  Check<Mutual<Native.InstanceOptions, Boss.InstanceOptions>>,
  Check<Mutual<Native.InstanceWorker, Boss.InstanceWorker>>,
  Check<Mutual<Native.InvalidIndex, Boss.InvalidIndex>>,
  Check<Mutual<Native.Job<Payload>, Boss.Job<Payload>>>,
  Check<Mutual<Native.Job, Boss.Job>>,
  Check<Mutual<Native.JobAttempt, Boss.JobAttempt>>,
  Check<Mutual<Native.JobDataSelector<Payload>, Boss.JobDataSelector<Payload>>>,
  Check<Mutual<Native.JobFetchOptions, Boss.JobFetchOptions>>,
  Check<Mutual<Native.JobInsert<Payload>, Boss.JobInsert<Payload>>>,
  Check<Mutual<Native.JobMatchStrategy, Boss.JobMatchStrategy>>,
  Check<Mutual<Native.JobOptions, Boss.JobOptions>>,
  Check<Mutual<Native.JobPollingOptions, Boss.JobPollingOptions>>,
  Check<Mutual<Native.JobResult<Out>, Boss.JobResult<Out>>>,
  Check<Mutual<Native.JobResultStatus, Boss.JobResultStatus>>,
  Check<Mutual<Native.JobSelector<Payload>, Boss.JobSelector<Payload>>>,
  Check<Mutual<Native.JobSpyInterface<Payload>, Boss.JobSpyInterface<Payload>>>,
  Check<Mutual<Native.JobSpyState, Boss.JobSpyState>>,
  Check<Mutual<Native.JobStates, Boss.JobStates>>,
  Check<Mutual<Native.JobWithMetadata<Payload>, Boss.JobWithMetadata<Payload>>>,
  Check<Mutual<Native.KnexTransactionLike, Boss.KnexTransactionLike>>,
  Check<Mutual<Native.KyselyTransactionLike, Boss.KyselyTransactionLike>>,
  Check<Mutual<Native.ListOptions, Boss.ListOptions>>,
  Check<Mutual<Native.ListOptions<Native.DependencyRef>, Boss.ListOptions<Boss.DependencyRef>>>,
  Check<Mutual<Native.MaintenanceOptions, Boss.MaintenanceOptions>>,
  Check<Mutual<Native.ManagedFunction, Boss.ManagedFunction>>,
  Check<Mutual<Native.ManagedIndex, Boss.ManagedIndex>>,
  Check<Mutual<Native.MigrationPartition, Boss.MigrationPartition>>,
  Check<Mutual<Native.MismatchedFunction, Boss.MismatchedFunction>>,
  Check<Mutual<Native.MismatchedIndex, Boss.MismatchedIndex>>,
  Check<Mutual<Native.OffWorkOptions, Boss.OffWorkOptions>>,
  Check<Mutual<Native.OpenTelemetryOptions, Boss.OpenTelemetryOptions>>,
  Check<Mutual<Native.PgBossEventMap, Boss.PgBossEventMap>>,
  Check<Mutual<Native.PGliteLike, Boss.PGliteLike>>,
  Check<Mutual<Native.PoolCounts, Boss.PoolCounts>>,
  Check<Mutual<Native.PreviewScheduleOptions, Boss.PreviewScheduleOptions>>,
  Check<Mutual<Native.PrismaTransactionLike, Boss.PrismaTransactionLike>>,
  Check<Mutual<Native.Queue, Boss.Queue>>,
  Check<Mutual<Native.QueueOptions, Boss.QueueOptions>>,
  Check<Mutual<Native.QueuePolicy, Boss.QueuePolicy>>,
  Check<Mutual<Native.QueueResult, Boss.QueueResult>>,
  Check<Mutual<Native.QueueStats, Boss.QueueStats>>,
  Check<Mutual<Native.QueueStatsOptions, Boss.QueueStatsOptions>>,
  Check<Mutual<Native.QueueStatsPercentile, Boss.QueueStatsPercentile>>,
  Check<Mutual<Native.RedriveFilter, Boss.RedriveFilter>>,
  Check<Mutual<Native.RedriveOptions, Boss.RedriveOptions>>,
  Check<Mutual<Native.RedrivePreview, Boss.RedrivePreview>>,
  Check<Mutual<Native.RedrivePreviewOptions, Boss.RedrivePreviewOptions>>,
  Check<Mutual<Native.ReindexOptions, Boss.ReindexOptions>>,
  Check<Mutual<Native.Request, Boss.Request>>,
  Check<Mutual<Native.Schedule, Boss.Schedule>>,
  Check<Mutual<Native.ScheduleKind, Boss.ScheduleKind>>,
  Check<Mutual<Native.ScheduleOptions, Boss.ScheduleOptions>>,
  Check<Mutual<Native.SchedulingOptions, Boss.SchedulingOptions>>,
  Check<Mutual<Native.SchemaDriftReport, Boss.SchemaDriftReport>>,
  Check<Mutual<Native.SendOptions, Boss.SendOptions>>,
  Check<Mutual<Native.SpyJob<Payload>, Boss.SpyJob<Payload>>>,
  Check<Mutual<Native.StopOptions, Boss.StopOptions>>,
  Check<Mutual<Native.SuperviseOptions, Boss.SuperviseOptions>>,
  Check<Mutual<Native.TableColumnDrift, Boss.TableColumnDrift>>,
  Check<Mutual<Native.UpdateOptions, Boss.UpdateOptions>>,
  Check<Mutual<Native.UpdateQueueOptions, Boss.UpdateQueueOptions>>,
  Check<Mutual<Native.UpdateRequest, Boss.UpdateRequest>>,
  Check<Mutual<Native.UpdateResponse, Boss.UpdateResponse>>,
  Check<Mutual<Native.UpsertResponse, Boss.UpsertResponse>>,
  Check<Mutual<Native.Warning, Boss.Warning>>,
  Check<Mutual<Native.WipData, Boss.WipData>>,
  Check<Mutual<Native.WorkConcurrencyOptions, Boss.WorkConcurrencyOptions>>,
  Check<Mutual<Native.WorkerState, Boss.WorkerState>>,
  Check<Mutual<Native.WorkHandler<Payload, Out>, Boss.WorkHandler<Payload, Out>>>,
  Check<Mutual<Native.WorkOptions, Boss.WorkOptions>>,
  Check<Mutual<Native.WorkWithMetadataHandler<Payload, Out>, Boss.WorkWithMetadataHandler<Payload, Out>>>,
  Check<Mutual<Native.WorkHandlerFor<{ batchSize: 5 }, Payload, Out>, Boss.WorkHandlerFor<{ batchSize: 5 }, Payload, Out>>>,
  Check<Mutual<Native.WorkHandlerFor<{ includeMetadata: true }, Payload, Out>, Boss.WorkHandlerFor<{ includeMetadata: true }, Payload, Out>>>,
  Check<Mutual<Native.WorkHandlerFor<{ transactional: true }, Payload, Out>, Boss.WorkHandlerFor<{ transactional: true }, Payload, Out>>>,
  Check<Mutual<Native.WorkHandlerFor<Native.WorkOptions, Payload, Out>, Boss.WorkHandlerFor<Boss.WorkOptions, Payload, Out>>>,

  // Widened on purpose: perJobResults handlers may also resolve Promise.allSettled output, so
  // pg-boss's handlers fit ours (not the other way round).
  Check<Assignable<Boss.PerJobWorkHandler<Payload>, Native.PerJobWorkHandler<Payload>>>,
  Check<Assignable<Boss.PerJobWorkWithMetadataHandler<Payload>, Native.PerJobWorkWithMetadataHandler<Payload>>>,
  Check<Assignable<Boss.WorkHandlerFor<{ perJobResults: true }, Payload>, Native.WorkHandlerFor<{ perJobResults: true }, Payload>>>,
  Check<Assignable<Boss.WorkHandlerFor<{ perJobResults: true, includeMetadata: true }, Payload>, Native.WorkHandlerFor<{ perJobResults: true, includeMetadata: true }, Payload>>>
]

// The same, spelled as a user would write it.
export const sendOptions: Boss.SendOptions = {} as Native.SendOptions
export const nativeSendOptions: Native.SendOptions = {} as Boss.SendOptions
export const workOptions: Boss.WorkOptions = {} as Native.WorkOptions
export const nativeWorkOptions: Native.WorkOptions = {} as Boss.WorkOptions
export const queueResult: Boss.QueueResult = {} as Native.QueueResult
export const nativeQueueResult: Native.QueueResult = {} as Boss.QueueResult
export const job: Boss.JobWithMetadata<Payload> = {} as Native.JobWithMetadata<Payload>
export const nativeJob: Native.JobWithMetadata<Payload> = {} as Boss.JobWithMetadata<Payload>
export const constructorOptions: Native.ConstructorOptions = {} as Boss.ConstructorOptions
export const nativeConstructorOptions: Boss.ConstructorOptions = {} as Native.ConstructorOptions

// ---- values ----

export type Values = [
  Check<Mutual<typeof Native.states, typeof Boss.states>>,
  Check<Mutual<typeof Native.policies, typeof Boss.policies>>,
  Check<Mutual<typeof Native.events, typeof Boss.events>>,
  Check<Mutual<typeof Native.getConstructionPlans, typeof Boss.getConstructionPlans>>,
  Check<Mutual<typeof Native.getMigrationPlans, typeof Boss.getMigrationPlans>>,
  Check<Mutual<typeof Native.getRollbackPlans, typeof Boss.getRollbackPlans>>,
  Check<Mutual<typeof Native.getIndexBloatPlans, typeof Boss.getIndexBloatPlans>>,
  Check<Mutual<typeof Native.getUninstallPlans, typeof Boss.getUninstallPlans>>,
  Check<Mutual<typeof Native.addBins, typeof Boss.addBins>>,
  Check<Mutual<typeof Native.percentile, typeof Boss.percentile>>,
  Check<Mutual<typeof Native.default, typeof Native.PgBoss>>
]

// ---- the class ----

type Ours = Native.PgBoss
type Theirs = Boss.PgBoss
/** pg-boss members we do not declare. */
type Missing = Exclude<keyof Theirs, keyof Ours>
// Members returning `this` (EventEmitter's, start()) cannot be compared across the two classes,
// which are nominal (#private): they are checked on their own below.
type Compared = Exclude<keyof Theirs & keyof Ours, keyof EventEmitter | 'start'>
/** Members whose signature cannot stand in for pg-boss's. */
type Incompatible = { [K in Compared]: Assignable<Ours[K], Theirs[K]> extends true ? never : K }[Compared]
/**
 * Members with a @deprecated pg-boss v10 overload before pg-boss's: a single pg-boss signature
 * cannot stand in for both, so their last overload (pg-boss's) is compared on its own below.
 */
type V10Overloaded = 'insert' | 'offWork'
/** Members whose pg-boss signature would not fit ours (we only widen). */
type Narrowed = { [K in Exclude<Compared, V10Overloaded>]: Assignable<Theirs[K], Ours[K]> extends true ? never : K }[Exclude<Compared, V10Overloaded>]

export type Members = [
  Check<IsNever<Missing>>,
  Check<IsNever<Incompatible>>,
  Check<IsNever<Narrowed>>,
  Check<Mutual<Parameters<Ours['insert']>, Parameters<Theirs['insert']>>>,
  Check<Mutual<ReturnType<Ours['insert']>, ReturnType<Theirs['insert']>>>,
  Check<Mutual<Parameters<Ours['offWork']>, Parameters<Theirs['offWork']>>>,
  Check<Mutual<ReturnType<Ours['offWork']>, ReturnType<Theirs['offWork']>>>,
  Check<Assignable<Ours, EventEmitter<Boss.PgBossEventMap>>>,
  Check<Mutual<Parameters<Ours['start']>, Parameters<Theirs['start']>>>,
  Check<Mutual<ReturnType<Ours['start']>, Promise<Ours>>>
]

// ---- values typed with pg-boss's types go into pg-boss-native's API ----

declare const config: Boss.ConstructorOptions
declare const sendOpts: Boss.SendOptions
declare const fetchOpts: Boss.FetchOptions
declare const workOpts: Boss.WorkOptions
declare const handler: Boss.WorkHandler<Payload, Out>
declare const metadataHandler: Boss.WorkWithMetadataHandler<Payload, Out>
declare const perJobHandler: Boss.PerJobWorkHandler<Payload>
declare const insertJobs: Boss.JobInsert[]
declare const queue: Omit<Boss.Queue, 'name'>
declare const stop: Boss.StopOptions

export async function typedWithPgBoss (): Promise<void> {
  const boss = new PgBoss(config)
  await boss.start()
  await boss.createQueue('q', queue)
  await boss.send('q', { id: 1, tags: [] } satisfies Payload, sendOpts)
  await boss.insert('q', insertJobs)
  const fetched: Boss.Job<Payload>[] = await boss.fetch<Payload>('q', fetchOpts)
  const detailed: Boss.JobWithMetadata<Payload>[] = await boss.fetch<Payload>('q', { includeMetadata: true })
  await boss.complete('q', fetched.map(j => j.id))
  await boss.fail('q', detailed[0])
  await boss.work('q', handler)
  await boss.work<Payload, Out>('q', handler)
  await boss.work('q', { batchSize: 5 }, handler)
  await boss.work('q', workOpts, handler)
  await boss.work('q', { includeMetadata: true }, metadataHandler)
  await boss.work('q', { perJobResults: true }, perJobHandler)
  const queueResult: Boss.QueueResult | null = await boss.getQueue('q')
  const stats: Boss.QueueStats[] = await boss.getQueueStats('q')
  const wip: Boss.WipData[] = boss.getWipData()
  boss.on('error', (error: Error) => console.error(error))
  boss.on('wip', (data: Boss.WipData[]) => console.log(data))
  await boss.stop(stop)
  console.log(queueResult, stats, wip)
}
