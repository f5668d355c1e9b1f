// Events, warnings, instances, background migrations, schema drift and test spies: the same
// shapes as pg-boss 12.38's.

import type { WipData, WorkOptions } from './workers.js'

export type Events = {
  error: 'error'
  warning: 'warning'
  wip: 'wip'
  stopped: 'stopped'
  bam: 'bam'
  flow: 'flow'
}

/** The events a `PgBoss` instance emits and their listener arguments. */
export type PgBossEventMap = {
  error: [error: Error]
  warning: [warning: Warning]
  wip: [data: WipData[]]
  stopped: []
  bam: [data: BamEvent]
  flow: [data: FlowEvent]
}

export interface Warning {
  message: string
  data: object
}

export interface FlowEvent {
  table: string
  resolved: number
}

/** A background (async) migration command changed state. */
export interface BamEvent {
  id: string
  name: string
  status: string
  queue?: string
  table: string
  error?: string
}

export interface BamEntry {
  id: string
  name: string
  version: number
  status: 'pending' | 'in_progress' | 'completed' | 'failed'
  queue?: string
  table: string
  command: string
  error?: string
  createdOn: Date
  startedOn?: Date
  completedOn?: Date
  reattempt?: boolean
}

export interface BamStatusSummary {
  status: 'pending' | 'in_progress' | 'completed' | 'failed'
  count: number
  lastCreatedOn: Date
}

// ---- instance registry (getInstances) ----

/** One `work()` call of a registered instance at its last heartbeat. */
export interface InstanceWorker {
  id: string
  queue: string
  localConcurrency: number
  batchSize: number
  pollingIntervalSeconds: number | null
  active: number
  lastFetchedOn: string | null
  lastJobEndedOn: string | null
  lastErrorOn: string | null
  /** The other options that call set. */
  options?: Partial<WorkOptions>
}

/** A registered instance's process at its last heartbeat (container limits where set). */
export interface InstanceMetrics {
  cgroup: 1 | 2 | null
  cpu: number | null
  cpuLimit: number
  cpuThrottled: number | null
  rss: number | null
  heapUsed: number | null
  heapLimit: number | null
  memoryUsed: number | null
  memoryLimit: number
  loopDelay: number | null
  loopDelayMax: number | null
  loopUtilization: number | null
}

export interface Instance {
  id: string
  name: string | null
  host: string
  pid: number
  version: string
  nodeVersion: string
  applicationName: string | null
  heartbeatSeconds: number
  supervise: boolean
  schedule: boolean
  migrate: boolean
  persistQueueStats: boolean
  persistWarnings: boolean
  poolMax: number | null
  poolTotal: number | null
  poolIdle: number | null
  poolWaiting: number | null
  workers: InstanceWorker[]
  metrics: InstanceMetrics | null
  config: Record<string, unknown>
  crashRestarts: number
  crashRestartsSince: Date | null
  startedOn: Date
  heartbeatOn: Date
  stoppedOn: Date | null
  live: boolean
}

// ---- index bloat and schema drift ----

export interface IndexBloat {
  name: string
  table: string
  pages: number
  entries: number
  bytes: number
  /** Whether the connected role may REINDEX it. */
  owned: boolean
}

/** An index pg-boss expects, with its expected shape where known. */
export interface ManagedIndex {
  name: string
  table: string
  keys?: string
  include?: string
  predicate?: string
  /** The `CREATE INDEX` statement that recreates it. */
  definition?: string
}

/** Present but INVALID (an interrupted concurrent build). */
export interface InvalidIndex extends ManagedIndex {
  /** A background migration is rebuilding it. */
  building: boolean
}

export interface MismatchedIndex extends ManagedIndex {
  expectedKeys: string
  actualKeys: string
  expectedInclude: string
  actualInclude: string
  expectedPredicate: string
  actualPredicate: string
  actualDefinition: string
  differs: Array<'keys' | 'include' | 'predicate'>
}

export interface ManagedFunction {
  name: string
  expectedBody: string
  definition: string
}

export interface MismatchedFunction extends ManagedFunction {
  actualBody: string
  actualDefinition: string
}

export interface TableColumnDrift {
  table: string
  missingColumns: string[]
  unexpectedColumns: string[]
  defaultMismatches: Array<{ column: string, expected: string, actual: string }>
  typeMismatches: Array<{ column: string, expected: string, actual: string }>
  nullabilityMismatches: Array<{ column: string, expected: boolean, actual: boolean }>
}

export interface ConstraintDrift {
  table: string
  missingConstraints: string[]
  unexpectedConstraints: string[]
}

export interface EnumDrift {
  name: string
  expectedValues: string[]
  actualValues: string[]
}

/** `detectSchemaDrift()`: what the catalog holds against what pg-boss expects. */
export interface SchemaDriftReport {
  /** Nothing missing, invalid or drifted (`extraIndexes` does not count). */
  ok: boolean
  missingTables: string[]
  missing: ManagedIndex[]
  building: ManagedIndex[]
  invalid: InvalidIndex[]
  extraIndexes: Array<{ name: string, table: string }>
  mismatched: MismatchedIndex[]
  missingFunctions: ManagedFunction[]
  mismatchedFunctions: MismatchedFunction[]
  columnDrift: TableColumnDrift[]
  constraintDrift: ConstraintDrift[]
  enumDrift: EnumDrift | null
}

// ---- test spies (`__test__enableSpies`) ----

export type JobSpyState = 'created' | 'active' | 'completed' | 'failed'

export type JobDataSelector<T = object> = (jobData: T) => boolean

export type JobSelector<T = object> = (job: SpyJob<T>) => boolean

export interface SpyJob<T = object> {
  id: string
  name: string
  data: T
  state: JobSpyState
  output?: object
}

export interface JobSpyInterface<T = object> {
  clear(): void
  waitForJob(selector: JobDataSelector<T>, state: JobSpyState): Promise<SpyJob<T>>
  waitForJobWithId(id: string, state: JobSpyState): Promise<SpyJob<T>>
}
