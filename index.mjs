// ESM entry: the same objects as the CommonJS entry.
import PgBoss from './index.js'

export default PgBoss
export const {
  states,
  policies,
  events,
  scheduleKinds,
  scheduleMissedPolicies,
  previewScheduleMaxCount,
  systemClock,
  TestClock,
  CLOCK_OVERRIDE_SETTING,
  enableClockOverride,
  disableClockOverride,
  getConstructionPlans,
  getMigrationPlans,
  getRollbackPlans,
  getUninstallPlans,
  getIndexBloatPlans,
  upgradeFromV10,
  rollbackV10Upgrade,
  addBins,
  percentile,
  UnrecoverableError,
  fromKnex,
  fromKysely,
  fromDrizzle,
  fromPrisma,
  fromPglite,
  fromBunSql
} = PgBoss
export { PgBoss }
