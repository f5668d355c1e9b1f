// Queues, queue statistics and schedules: the same shapes as pg-boss 12.38's.

import type { SendOptions } from './jobs.js'

/**
 * How a queue admits and hands out jobs: `standard`; `short` (one queued job per key); `singleton`
 * (one active); `stately` (one per state); `exclusive` (one queued or active); `key_strict_fifo`
 * (FIFO per `singletonKey`, which every job then needs).
 */
export type QueuePolicy = 'standard' | 'short' | 'singleton' | 'stately' | 'exclusive' | 'key_strict_fifo' | (string & {})

/** Retry, expiration and retention settings of a queue, inherited by its jobs unless overridden. */
export interface QueueOptions {
  /** Seconds a job may stay active before it is retried or failed. @default 900 */
  expireInSeconds?: number
  /** Seconds a job may stay created or retry before it is deleted. @default 1209600 */
  retentionSeconds?: number
  /** Seconds a finished job is kept; 0 keeps it forever. @default 604800 */
  deleteAfterSeconds?: number
  /** @default 2 */
  retryLimit?: number
  /** Seconds between retries. @default 0 */
  retryDelay?: number
  /** Exponential backoff from `retryDelay`. @default false */
  retryBackoff?: boolean
  /** Upper bound of the backoff delay, in seconds. */
  retryDelayMax?: number
  /** Heartbeat interval workers must keep (>= 10); unset disables heartbeats. */
  heartbeatSeconds?: number
}

export interface Queue extends QueueOptions {
  name: string
  /** @default 'standard' */
  policy?: QueuePolicy
  /** Give the queue its own partition table. @default false */
  partition?: boolean
  /** Queue that receives this queue's jobs once they fail for good. */
  deadLetter?: string
  /** Queued jobs above which a `queue_backlog` warning is emitted. */
  warningQueueSize?: number
  heartbeatSeconds?: number
  /** NOTIFY workers when a job is created (needs `useListenNotify`). @default false */
  notify?: boolean
}

export interface QueueResult extends Queue {
  deferredCount: number
  blockedCount: number
  queuedCount: number
  readyCount: number
  activeCount: number
  failedCount: number
  totalCount: number
  completedDelta: number
  failedDelta: number
  createdDelta: number
  deltaSeconds: number | null
  deltaOn: Date | null
  waitBins: number[] | null
  runBins: number[] | null
  readyOldestSeconds: number | null
  table: string
  createdOn: Date
  updatedOn: Date
  /** @deprecated informational only; removed in pg-boss's next major */
  singletonsActive: string[] | null
}

/** `updateQueue()` options: `null` clears `deadLetter`, `retryDelayMax` or `heartbeatSeconds`. */
export type UpdateQueueOptions = Omit<Queue, 'name' | 'partition' | 'policy' | 'deadLetter' | 'retryDelayMax' | 'heartbeatSeconds'> & {
  deadLetter?: string | null
  retryDelayMax?: number | null
  heartbeatSeconds?: number | null
}

/** One snapshot of a queue's counts (`persistQueueStats`), or the current counts. */
export interface QueueStats {
  name: string
  deferredCount: number
  queuedCount: number
  readyCount: number
  activeCount: number
  failedCount: number
  totalCount: number
  completedDelta: number | null
  failedDelta: number | null
  createdDelta: number | null
  deltaSeconds: number | null
  deltaOn: Date | null
  waitBins: number[] | null
  runBins: number[] | null
  readyOldestSeconds: number | null
  /** With the `percentiles` option. */
  percentiles?: QueueStatsPercentile[]
  capturedOn: Date
}

export interface QueueStatsPercentile {
  /** 1 to 100 */
  p: number
  waitSeconds: number | null
  runSeconds: number | null
}

export interface QueueStatsOptions {
  from?: Date
  to?: Date
  /** 1 to 100000. @default 1000 */
  limit?: number
  bucketSeconds?: number
  maxDataPoints?: number
  /** @default 'max' */
  aggregate?: 'max' | 'min' | 'avg'
  percentiles?: number[]
  /** Recount now instead of reading the cache. */
  force?: boolean
}

// ---- schedules ----

export type ScheduleKind = 'cron' | 'rrule'

export type ScheduleMissedPolicy = 'skip' | 'once'

export type ScheduleOptions = SendOptions & {
  tz?: string
  key?: string
  /** What to send for occurrences missed while no cron pass ran. @default 'skip' */
  missed?: ScheduleMissedPolicy
}

export interface Schedule {
  name: string
  key: string
  kind: ScheduleKind
  /** The cron expression or RFC 5545 recurrence rule. */
  cron: string
  timezone: string
  data?: object
  options?: ScheduleOptions
  createdOn: Date
  updatedOn: Date
  lastJobId: string | null
}

export interface PreviewScheduleOptions {
  /** @default 'UTC' */
  tz?: string
  /** Occurrences strictly after this time. */
  from?: Date
  /** 1 to 1000. @default 5 */
  count?: number
}
