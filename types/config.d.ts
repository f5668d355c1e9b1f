// Constructor, database and lifecycle options: the same shapes as pg-boss 12.38's.

import type { QueuePolicy } from './queues.js'

/** What pg-boss runs its SQL through: the built-in pool, or the caller's connection or transaction. */
export interface IDatabase {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: any[] }>
  /** Optional: a session-pinned LISTEN, which `useListenNotify` needs. Call `onReconnect` after every (re)subscribe. */
  listen?(channel: string, onNotification: (payload: string) => void, onReconnect: () => void): Promise<ListenHandle>
  /** Optional: a transaction settled from another call frame, which `transactional` workers need. */
  beginTransaction?(): Promise<TransactionHandle>
  /** Optional: statements every session must run before pg-boss uses it (each call replaces the set). */
  setSessionStatements?(statements: string[]): Promise<void>
  /** Optional: the pool's size and use, recorded in the instance registry. */
  poolCounts?(): PoolCounts | null
}

/** A connection pool's size and use at one moment. */
export interface PoolCounts {
  max: number
  total: number
  idle: number
  waiting: number
}

export interface ListenHandle {
  close(): Promise<void>
}

export interface TransactionHandle {
  /** Runs statements inside the transaction; pass it as the `db` option of any call. */
  db: IDatabase
  commit(): Promise<void>
  /** Never rejects; safe to call more than once. */
  rollback(): Promise<void>
}

export interface DatabaseOptions {
  application_name?: string
  database?: string
  user?: string
  password?: string | (() => string | Promise<string>)
  host?: string
  port?: number
  schema?: string
  ssl?: any
  connectionString?: string
  /** Command-line options sent to the server on connect, e.g. `-c statement_timeout=5000`. */
  options?: string
  max?: number
  db?: IDatabase
  connectionTimeoutMillis?: number
  notifyHeartbeatIntervalMs?: number
  notifyHeartbeatTimeoutMs?: number
  notifyKeepAliveInitialDelayMs?: number
}

export interface SchedulingOptions {
  schedule?: boolean
  clockMonitorIntervalSeconds?: number
  cronWorkerIntervalSeconds?: number
  cronMonitorIntervalSeconds?: number
}

/** The database the instance runs against; it selects pg-boss's internal compatibility flags. */
export type BackendProfile = 'postgres' | 'cockroachdb' | 'yugabytedb' | 'citus' | 'pglite'

export interface BackendOptions {
  /** @default 'postgres' */
  backend?: BackendProfile
}

export interface MaintenanceOptions {
  supervise?: boolean
  migrate?: boolean
  createSchema?: boolean
  /** Install even when a schema differing only by case already holds pg-boss. @default false */
  allowSchemaCaseVariant?: boolean
  warningSlowQuerySeconds?: number
  warningQueueSize?: number
  superviseIntervalSeconds?: number
  maintenanceIntervalSeconds?: number
  queueCacheIntervalSeconds?: number
  monitorIntervalSeconds?: number
  persistWarnings?: boolean
  warningRetentionDays?: number
  /** Record queue count snapshots on each monitor pass, for `getQueueStats()`. @default false */
  persistQueueStats?: boolean
  queueStatRetentionDays?: number
  bamIntervalSeconds?: number
  flowIntervalSeconds?: number
  /** Rebuild bloated job indexes during maintenance; `false` disables it. @default true */
  reindex?: boolean | ReindexOptions
  /** @default 86400 */
  reindexIntervalSeconds?: number
  /** Warn (`xmin_horizon`, `autovacuum_disabled`) when vacuum falls behind. @default true */
  monitorVacuum?: boolean
}

/** Thresholds of the index bloat check. */
export interface IndexBloatOptions {
  /** @default 128 */
  minPages?: number
  /** @default 5 */
  maxEntriesPerPage?: number
  /** @default 4 */
  minSizeRatio?: number
}

export interface ReindexOptions extends IndexBloatOptions {
  /** Rebuild every job index in scope, now. @default false */
  force?: boolean
  /** @default 2147483648 */
  maxIndexBytes?: number
}

export interface SuperviseOptions {
  /** Overrides the constructor's `reindex` for this pass. */
  reindex?: boolean | ReindexOptions
}

/** Source of time and timers, replaceable in tests. */
export interface Clock {
  /** epoch milliseconds */
  now(): number
  setTimeout(fn: () => void, ms: number): ClockTimer
  clearTimeout(handle: ClockTimer): void
  setInterval(fn: () => void, ms: number): ClockTimer
  clearInterval(handle: ClockTimer): void
}

/** Opaque timer handle of a `Clock`. */
export type ClockTimer = unknown

/** A `Clock` that also drives the database's clock once attached to a schema. */
export interface AttachableClock extends Clock {
  attach(target: { db: IDatabase, schema: string, idle?: () => Promise<boolean> }): Promise<AsyncDisposable>
}

export interface InstanceOptions {
  /** @default true */
  registerInstance?: boolean
  instanceName?: string
  /** @default 30 */
  instanceHeartbeatSeconds?: number
}

// Structural stand-ins for @opentelemetry/api's TextMapPropagator, TracerProvider and
// MeterProvider, so that this package's types need no OpenTelemetry package installed.
interface TextMapPropagatorLike {
  inject(context: any, carrier: any, setter: any): void
  extract(context: any, carrier: any, getter: any): any
  fields(): string[]
}
interface TracerProviderLike {
  getTracer(name: string, version?: string, options?: any): any
}
interface MeterProviderLike {
  getMeter(name: string, version?: string, options?: any): any
}

export interface OpenTelemetryOptions {
  /** @default true */
  enabled?: boolean
  /** @default false */
  propagateContext?: boolean
  propagator?: TextMapPropagatorLike
  tracerProvider?: TracerProviderLike
  meterProvider?: MeterProviderLike
}

export interface ConstructorOptions extends DatabaseOptions, SchedulingOptions, MaintenanceOptions, BackendOptions, InstanceOptions {
  clock?: Clock
  /** Wake workers of `notify` queues through LISTEN/NOTIFY. @default false */
  useListenNotify?: boolean
  openTelemetry?: OpenTelemetryOptions
  /** Enables `getSpy()`. Not for production. @default false */
  __test__enableSpies?: boolean
  /** @deprecated pg-boss v10: the default retryLimit of the queues this instance creates. Set it on createQueue(). */
  retryLimit?: number
  /** @deprecated pg-boss v10: the default retryDelay of the queues this instance creates. Set it on createQueue(). */
  retryDelay?: number
  /** @deprecated pg-boss v10: the default retryBackoff of the queues this instance creates. Set it on createQueue(). */
  retryBackoff?: boolean
  /** @deprecated pg-boss v10: the default expireInSeconds of the queues this instance creates. Set it on createQueue(). */
  expireInSeconds?: number
  /** @deprecated pg-boss v10: as expireInSeconds, in minutes. */
  expireInMinutes?: number
  /** @deprecated pg-boss v10: as expireInSeconds, in hours. */
  expireInHours?: number
  /** @deprecated pg-boss v10: the default retentionSeconds of the queues this instance creates. Set it on createQueue(). */
  retentionSeconds?: number
  /** @deprecated pg-boss v10: as retentionSeconds, in minutes. */
  retentionMinutes?: number
  /** @deprecated pg-boss v10: as retentionSeconds, in hours. */
  retentionHours?: number
  /** @deprecated pg-boss v10: as retentionSeconds, in days. */
  retentionDays?: number
  /** @deprecated pg-boss v10 (how long archived jobs were kept): the default deleteAfterSeconds of the queues this instance creates. */
  deleteAfterSeconds?: number
  /** @deprecated pg-boss v10: as deleteAfterSeconds, in minutes. */
  deleteAfterMinutes?: number
  /** @deprecated pg-boss v10: as deleteAfterSeconds, in hours. */
  deleteAfterHours?: number
  /** @deprecated pg-boss v10: as deleteAfterSeconds, in days. */
  deleteAfterDays?: number
  /** @deprecated pg-boss v10: the default pollingIntervalSeconds of this instance's work() calls. Set it on work(). */
  pollingIntervalSeconds?: number
}

export interface StartOptions {
  /** Tries before rejecting, backing off from 1 s to 30 s. @default 1 */
  attempts?: number
}

export interface StopOptions {
  close?: boolean
  graceful?: boolean
  timeout?: number
  /**
   * @deprecated pg-boss v10: `wait: false` resolved at once while a graceful stop went on in the
   * background. pg-boss 12.38 ignores it; pg-boss-native still honours it, with a warning.
   */
  wait?: boolean
}

// ---- SQL plan functions ----

export interface PlanOptions {
  /** The backend the SQL will run on. @default 'postgres' */
  backend?: BackendProfile
}

export interface ConstructionPlanOptions extends PlanOptions {
  /** Include `CREATE SCHEMA`. @default true */
  createSchema?: boolean
}

export interface MigrationPlanOptions extends PlanOptions {
  /** Partitioned job tables to fan index builds out across, as `getQueues()` reports them. */
  partitionTables?: MigrationPartition[]
}

export interface MigrationPartition {
  tableName: string
  policy: QueuePolicy
}

export interface AsyncMigrationCommand {
  name: string
  command: string
  partitionPolicy?: QueuePolicy
  table?: string
}

// ---- shapes the database adapters accept (fromKnex, fromKysely, ...) ----

export interface KnexTransactionLike {
  raw<T = any>(sql: string, bindings?: readonly unknown[]): Promise<{ rows: T[] } | { rows: any[] }[]>
}

export interface KyselyTransactionLike {
  executeQuery<R>(query: {
    readonly sql: string
    readonly parameters: ReadonlyArray<unknown>
    readonly query: any
    readonly queryId: { readonly queryId: string }
  }, queryId?: unknown): Promise<{ readonly rows: R[] }>
}

export interface DrizzleTransactionLike {
  execute(query: unknown): Promise<{ rows: any[] } | { rows: any[] }[] | any[]>
}

export interface DrizzleSqlTagLike {
  (strings: TemplateStringsArray, ...values: unknown[]): unknown
  param(value: unknown): unknown
}

export interface PrismaTransactionLike {
  $queryRawUnsafe<T = unknown>(query: string, ...values: any[]): Promise<T>
}

export interface PGliteLike {
  query<T = any>(query: string, params?: unknown[]): Promise<{ rows: T[] }>
  exec(query: string): Promise<Array<{ rows: any[] }>>
  listen?(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>>
  onLeaderChange?(callback: () => void): () => void
}

export interface BunSqlLike {
  unsafe(text: string, values?: unknown[]): Promise<unknown>
  reserve(): Promise<BunReservedSqlLike>
  listen?(channel: string, onNotification: (payload: string) => void, onSubscribe?: () => void): Promise<BunSubscriptionLike>
}

export interface BunSubscriptionLike {
  unlisten(): Promise<void> | void
}

export interface BunReservedSqlLike {
  unsafe(text: string, values?: unknown[]): Promise<unknown>
  release(): void
}

// Only the declarations marked `export` above are exported.
export {}
