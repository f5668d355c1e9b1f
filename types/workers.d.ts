// Workers: work() options and handler types as in pg-boss 12.38, plus pg-boss-native's workEach(),
// allSettled per-job results and batch metrics.

import type { IDatabase } from './config.js'
import type { GroupConcurrencyConfig, Job, JobFetchOptions, JobWithMetadata } from './jobs.js'

/** Delay between fetches, by precedence: burst (no delay) → notify → base polling interval. */
export interface JobPollingOptions {
  /** >= 0.5. @default 2 */
  pollingIntervalSeconds?: number
  /** Used while NOTIFY is active for the queue. @default 30 */
  notifyPollingIntervalSeconds?: number
  /** Fetch continuously while the cached ready count exceeds this. */
  burstWhenReadyExceeds?: number
  /** Fetch continuously while fetches come back full. @default false */
  burstWhenBatchFull?: boolean
}

export interface WorkConcurrencyOptions {
  /** Workers (fetch loops) for this queue in this process. */
  localConcurrency?: number
  /** Active jobs per group in this process. */
  localGroupConcurrency?: number | GroupConcurrencyConfig
  /** Active jobs per group across all processes. */
  groupConcurrency?: number | GroupConcurrencyConfig
}

export type WorkOptions = JobFetchOptions & JobPollingOptions & WorkConcurrencyOptions & {
  /** @default heartbeatSeconds / 2 */
  heartbeatRefreshSeconds?: number
  /**
   * Settle each job of a batch on its own: the handler resolves with a `JobResult[]`, or (in
   * pg-boss-native) with the index-aligned output of `Promise.allSettled(jobs.map(...))`.
   * @default false
   */
  perJobResults?: boolean
  /** Run the handler and the completion in one transaction; the handler gets it as a second argument. @default false */
  transactional?: boolean
  transactionTimeoutSeconds?: number
  /**
   * pg-boss-native: claim the next batch while the handler runs, so the handler never waits on a
   * claim. `true` holds up to one batch's worth; a number, at most that many claimed-but-unstarted
   * jobs: beyond `batchSize`, a local queue claimed in one statement and handed to the handler
   * `batchSize` at a time. Held jobs are active; they go back to the queue (retry
   * count not charged) after a quarter of their shortest `expireInSeconds`/`heartbeatSeconds`
   * window, and on `stop()`/`offWork()`. Refused on `short` and `stately` queues and with
   * `transactional`. `workEach()` claims ahead unless given `false`.
   * @default false (work()), true (workEach())
   */
  prefetch?: boolean | number
}

export interface OffWorkOptions {
  id?: string
  wait?: boolean
}

export interface WorkHandler<ReqData, ResData = any> {
  (job: Job<ReqData>[]): Promise<ResData>
}

export interface WorkWithMetadataHandler<ReqData, ResData = any> {
  (job: JobWithMetadata<ReqData>[]): Promise<ResData>
}

export type JobResultStatus = 'completed' | 'failed' | 'deadletter'

/** One job's outcome in a `perJobResults` batch; `deadletter` skips remaining retries. */
export interface JobResult<ResData = any> {
  id: string
  status: JobResultStatus
  output?: ResData
}

/**
 * A `perJobResults` batch handler. pg-boss-native also takes the index-aligned output of
 * `Promise.allSettled(jobs.map(...))`: `fulfilled` completes a job with its value, `rejected`
 * fails it (terminally for an `UnrecoverableError` or an error with `retryable: false`).
 */
export interface PerJobWorkHandler<ReqData, ResData = any> {
  (job: Job<ReqData>[]): Promise<JobResult<ResData>[] | PromiseSettledResult<ResData>[]>
}

export interface PerJobWorkWithMetadataHandler<ReqData, ResData = any> {
  (job: JobWithMetadata<ReqData>[]): Promise<JobResult<ResData>[] | PromiseSettledResult<ResData>[]>
}

/** A `transactional: true` handler: `tx` runs statements in the transaction the batch commits in. */
export interface TransactionalWorkHandler<ReqData, ResData = any> {
  (jobs: Job<ReqData>[], tx: IDatabase): Promise<ResData>
}

export interface TransactionalWorkWithMetadataHandler<ReqData, ResData = any> {
  (jobs: JobWithMetadata<ReqData>[], tx: IDatabase): Promise<ResData>
}

/**
 * The handler `work(name, options, handler)` needs for the options' inferred type `O`: a literal
 * `transactional: true` adds the transaction, a literal `perJobResults: true` asks for per-job
 * results, a literal `includeMetadata: true` passes `JobWithMetadata`. A flag typed plain
 * `boolean` selects the permissive handler.
 */
export type WorkHandlerFor<O extends WorkOptions, ReqData, ResData = any> =
  O extends { transactional: true }
    ? (O extends { includeMetadata: true } ? TransactionalWorkWithMetadataHandler<ReqData, ResData> : TransactionalWorkHandler<ReqData, ResData>)
    : O extends { perJobResults: true }
      ? (O extends { includeMetadata: true } ? PerJobWorkWithMetadataHandler<ReqData> : PerJobWorkHandler<ReqData>)
      : (O extends { includeMetadata: true } ? WorkWithMetadataHandler<ReqData, ResData> : WorkHandler<ReqData, ResData>)

export type WorkerState = 'created' | 'active' | 'stopping' | 'stopped'

/** One worker, as `getWipData()` and the `wip` event report it. */
export interface WipData {
  id: string
  workId: string
  name: string
  options: WorkOptions
  state: WorkerState
  count: number
  createdOn: number
  lastFetchedOn: number | null
  lastJobStartedOn: number | null
  lastJobEndedOn: number | null
  lastJobDuration: number | null
  lastError: object | null
  lastErrorOn: number | null
}

// ---- pg-boss-native: workEach() ----

/** `workEach()` options: `work()`'s, without `perJobResults` (each job is settled on its own). */
export type WorkEachOptions = Omit<WorkOptions, 'perJobResults'> & {
  /** Handlers in flight at once per worker; slots refill as jobs finish. @default batchSize */
  concurrency?: number
}

/** A `workEach()` handler: one job in, its output out; a throw fails that job only. */
export interface WorkEachHandler<ReqData, ResData = any> {
  (job: Job<ReqData>): Promise<ResData> | ResData
}

export interface WorkEachWithMetadataHandler<ReqData, ResData = any> {
  (job: JobWithMetadata<ReqData>): Promise<ResData> | ResData
}

// ---- pg-boss-native: getMetrics() ----

/** Latency in milliseconds since the instance started. */
export interface LatencySummary {
  count: number
  p50: number
  p95: number
  p99: number
  max: number
}

/** Counters of one worker (`work()`/`workEach()` id), or of a whole queue. */
export interface WorkerMetrics {
  fetched: number
  completed: number
  failed: number
  retried: number
  deadLettered: number
  batches: number
  inFlight: number
  fetchLatencyMs: LatencySummary
  handlerLatencyMs: LatencySummary
  settleLatencyMs: LatencySummary
}

export interface QueueMetrics extends WorkerMetrics {
  /** By work id. */
  workers: Record<string, WorkerMetrics>
}

export interface Metrics {
  /** By queue name. */
  queues: Record<string, QueueMetrics>
}

export interface MetricsOptions {
  /** `'prometheus'` returns the Prometheus text exposition format instead. @default 'json' */
  format?: 'json' | 'prometheus'
}
