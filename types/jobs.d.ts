// Jobs: what send() takes, what fetch() and workers get, and what settling returns. The same
// shapes as pg-boss 12.38's.

import type { IDatabase } from './config.js'
import type { QueueOptions, QueuePolicy } from './queues.js'

export type JobStates = {
  created: 'created'
  retry: 'retry'
  active: 'active'
  completed: 'completed'
  cancelled: 'cancelled'
  failed: 'failed'
}

/** The `db` option: run this call's SQL through the caller's connection or transaction. */
export interface ConnectionOptions {
  db?: IDatabase
}

export interface GroupOptions {
  id: string
  tier?: string
}

export interface GroupConcurrencyConfig {
  default: number
  tiers?: Record<string, number>
}

export interface JobOptions {
  id?: string
  priority?: number
  startAfter?: number | string | Date
  singletonKey?: string
  singletonSeconds?: number
  singletonNextSlot?: boolean
  group?: GroupOptions
  deadLetter?: string
}

export type SendOptions = JobOptions & QueueOptions & ConnectionOptions

/** The object form of `send()`. */
export interface Request {
  name: string
  data?: object
  options?: SendOptions
}

export type InsertOptions = ConnectionOptions & {
  /** Resolve with the new jobs' ids instead of `null`. @default false */
  returnId?: boolean
}

export interface JobInsert<T = object> {
  id?: string
  data?: T
  priority?: number
  retryLimit?: number
  retryDelay?: number
  retryBackoff?: boolean
  retryDelayMax?: number
  startAfter?: number | string | Date
  singletonKey?: string
  singletonSeconds?: number
  expireInSeconds?: number
  deleteAfterSeconds?: number
  retentionSeconds?: number
  heartbeatSeconds?: number
  group?: GroupOptions
  deadLetter?: string
}

/** @deprecated pg-boss v10's `insert(jobs)` entry: a job naming its queue. Use `insert(name, jobs)`. */
export interface V10JobInsert<T = object> extends JobInsert<T> {
  name: string
}

/** Which of several jobs sharing a `singletonKey` `update()`/`upsert()` overwrite. */
export type JobMatchStrategy = 'newest' | 'oldest' | 'all'

/** `update()`/`upsert()` options: target one job by `id` or `singletonKey`; omitted fields keep their value. */
export type UpdateOptions = Pick<JobOptions, 'id' | 'priority' | 'startAfter' | 'singletonKey' | 'group' | 'deadLetter'> & QueueOptions & ConnectionOptions & {
  match?: JobMatchStrategy
}

export interface UpdateRequest {
  name: string
  data?: object | null
  options?: UpdateOptions
}

export interface UpdateResponse {
  jobs: string[]
  updated: number
}

export interface UpsertResponse extends UpdateResponse {
  inserted: number
}

/** A job of a `flow()`: `dependsOn` names the `ref`s it waits for. */
export interface FlowJob {
  ref: string
  name: string
  data?: object
  options?: Omit<JobInsert, 'data'>
  dependsOn?: string[]
}

export interface DependencyRef {
  name: string
  id: string
}

// ---- fetching ----

export interface JobFetchOptions {
  /** @default false */
  includeMetadata?: boolean
  /** @deprecated ignored since 12.30: jobs are always fetched in priority order */
  priority?: boolean
  /** @deprecated ignored since 12.30: jobs are always fetched in creation order */
  orderByCreatedOn?: boolean
  /** @default 1 */
  batchSize?: number
  /** @default false */
  ignoreStartAfter?: boolean
  minPriority?: number
  maxPriority?: number
}

export interface FetchGroupConcurrencyOptions {
  groupConcurrency?: number | GroupConcurrencyConfig
  ignoreGroups?: string[] | null
}

export type FetchOptions = JobFetchOptions & ConnectionOptions & FetchGroupConcurrencyOptions

/** A job as `fetch()` returns it and handlers receive it. */
export interface Job<T = object> {
  id: string
  name: string
  data: T
  expireInSeconds: number
  heartbeatSeconds: number | null
  /** Retries so far; it also identifies the attempt a worker holds. */
  retryCount: number
  /** Aborted when the job expires or the worker stops (set by workers). */
  signal: AbortSignal
  groupId?: string | null
  groupTier?: string | null
}

/** A job with every column, from `includeMetadata: true` or `findJobs()`. */
export interface JobWithMetadata<T = object> extends Job<T> {
  priority: number
  state: 'created' | 'retry' | 'active' | 'completed' | 'cancelled' | 'failed'
  retryLimit: number
  retryDelay: number
  retryBackoff: boolean
  retryDelayMax?: number
  startAfter: Date
  startedOn: Date
  singletonKey: string | null
  singletonOn: Date | null
  expireInSeconds: number
  deleteAfterSeconds: number
  createdOn: Date
  completedOn: Date | null
  keepUntil: Date
  policy: QueuePolicy
  heartbeatOn: Date | null
  heartbeatSeconds: number | null
  blocked: boolean
  blocking: boolean
  pendingDependencies: number
  deadLetter: string
  output: object
  /** Dead-lettered jobs: the queue, id, creation time, retries and output of the original job; else `null`. */
  sourceName: string | null
  sourceId: string | null
  sourceCreatedOn: Date | null
  sourceRetryCount: number | null
  sourceOutput: object | null
  /** The id `send()` returned for the first job of its dead letter chain; `null` if never dead-lettered. */
  sourceRootId: string | null
}

export interface FindJobsOptions extends ConnectionOptions {
  id?: string
  key?: string
  data?: object
  queued?: boolean
  /** 1 to 100000. @default 1000 */
  limit?: number
  /** Continue after this job id. */
  after?: string
}

export interface ListOptions<After = string> {
  /** 1 to 100000. @default 1000 */
  limit?: number
  /** Continue after this row (the last one of the previous page). */
  after?: After
}

// ---- settling ----

/** A job to settle by attempt: the call leaves it alone once it was retried or its claim lapsed. */
export interface JobAttempt {
  id: string
  retryCount: number
}

export interface CompleteOptions extends ConnectionOptions {
  includeQueued?: boolean
}

/** What `complete()`, `fail()`, `cancel()`, ... resolve with. */
export interface CommandResponse {
}

// ---- dead letter redrive ----

export interface RedriveFilter extends ConnectionOptions {
  /** Queue to move jobs into; defaults to each job's source queue. */
  destination?: string
  sourceName?: string
  data?: object
  createdBefore?: Date
  ids?: string[]
}

export interface RedriveOptions extends RedriveFilter {
  /** @default 1000 */
  limit?: number
}

export interface RedrivePreviewOptions extends RedriveFilter {
  /** @default 1000 */
  limit?: number
}

export interface RedrivePreview {
  total: number
  destinations: { name: string, count: number }[]
  unroutable: number
}
