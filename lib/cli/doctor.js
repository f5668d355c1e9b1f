'use strict'
// `doctor`: the schema against schema 46 through the class's own detectSchemaDrift() (src/drift),
// printed as pg-boss 12.38's CLI prints its report; exit code 1 on drift. Index bloat and extra
// indexes are shown but are not drift. `--fix` repairs one thing only: a job_now() a killed
// TestClock run left overridden.

const { ADMIN } = require('../admin.js')
const native = require('../native.js')
const { CLOCK_OVERRIDE_SETTING } = require('../../index.js')

function restoreClockLines (schema) {
  const { restore } = JSON.parse(native.testClockPlans(schema, 0))
  return restore.split('\n').filter(l => l.trim()).map(l => `    ${l.trim()}`).join('\n')
}

function isClockOverride (fn) {
  return fn.name === 'job_now' && typeof fn.actualDefinition === 'string' && fn.actualDefinition.includes(CLOCK_OVERRIDE_SETTING)
}

function printClockOverrideHint (schema, marker) {
  console.log(`\n${marker}job_now() carries a TestClock override, left behind by a test run that was`)
  console.log('  killed before releasing its clock. Time is still correct, but the function no')
  console.log('  longer inlines, so every statement that reads the clock is slower. Restore it')
  console.log('  with "pg-boss-native doctor --fix", or by hand:')
  console.log(restoreClockLines(schema))
}

function section (title, items, print) {
  if (!items?.length) return
  console.log(`\n${title} (${items.length}):`)
  for (const item of items) print(item)
}

async function doctor (boss, schema, latest, args) {
  const version = await boss.schemaVersion()
  if (version === null) {
    console.log(`pg-boss is not installed in schema "${schema}"`)
    process.exitCode = 1
    return
  }
  console.log(`Schema "${schema}" version ${version} (latest: ${latest})`)
  if (version < latest) {
    console.log(`⚠ Migrations pending: ${latest - version}. Run "pg-boss-native migrate" before trusting drift results`)
  }
  let report = await boss.detectSchemaDrift()

  if (args.fix) {
    const override = report.mismatchedFunctions.some(isClockOverride) || await boss[ADMIN]('clockOverridden')
    if (override) {
      console.log('\njob_now() carries a TestClock override, left behind by a test run that was')
      console.log('killed before releasing its clock. Restoring it, so make sure no instance is')
      console.log('holding a live TestClock against this schema.')
      await boss[ADMIN]('restoreClock')
      console.log('  restored.')
      report = await boss.detectSchemaDrift()
    } else {
      console.log('\nNothing for --fix to repair: job_now() carries no TestClock override.')
    }
  }

  section('Building (async index build in progress, not yet drift)', report.building, i => console.log(`  ${i.table}.${i.name}`))
  try {
    const bloated = await boss[ADMIN]('jobIndexes', [false])
    section('⚠ INDEX BLOAT (rebuild with "pg-boss-native reindex")', bloated, i => {
      console.log(`  ${i.table}.${i.name}: ${Math.round(Number(i.bytes) / 1024 / 1024)} MB across ${i.pages} pages, ~${i.entries} live entries`)
      if (!i.owned) console.log('    note: the connected role does not own this index and cannot reindex it')
    })
  } catch {
    // best effort: a role without catalog visibility still gets the drift report
  }
  section('⚠ EXTRA INDEXES (present on a managed table but not expected, harmless)', report.extraIndexes, i => console.log(`  ${i.table}.${i.name}`))

  if (report.ok) {
    console.log('\n✓ No drift detected')
    return
  }

  section('MISSING TABLES (expected but absent)', report.missingTables, t => console.log(`  ${t}`))
  section('MISSING (expected but absent)', report.missing, i => {
    console.log(`  ${i.table}.${i.name}`)
    if (i.definition) console.log(`    expected: ${i.definition}`)
  })
  section('INVALID (present but marked invalid, drop and rebuild)', report.invalid, i => {
    console.log(`  ${i.table}.${i.name}`)
    if (i.definition) console.log(`    rebuild: ${i.definition}`)
  })
  section('MISMATCHED (definition differs)', report.mismatched, m => {
    console.log(`  ${m.table}.${m.name} [${m.differs.join(', ')}]`)
    if (m.definition) console.log(`    expected: ${m.definition}`)
    console.log(`    actual:   ${m.actualDefinition}`)
  })
  section('MISSING FUNCTIONS (expected but absent)', report.missingFunctions, f => {
    console.log(`  ${f.name}`)
    console.log(`    expected: ${f.definition}`)
  })
  let clockOverrideNamed = false
  if (report.mismatchedFunctions?.length) {
    section('MISMATCHED FUNCTIONS (body differs)', report.mismatchedFunctions, f => {
      console.log(`  ${f.name}`)
      console.log(`    expected: ${f.definition}`)
      console.log(`    actual:   ${f.actualDefinition}`)
    })
    if (report.mismatchedFunctions.some(isClockOverride)) {
      clockOverrideNamed = true
      printClockOverrideHint(schema, '  ')
    }
  }
  // a backend whose functions never reach the report: the override is read from its source
  if (!clockOverrideNamed && await boss[ADMIN]('clockOverridden')) printClockOverrideHint(schema, '⚠ ')
  section('COLUMN DRIFT (missing/unexpected columns, or default/type/nullability drift)', report.columnDrift, c => {
    console.log(`  ${c.table}`)
    if (c.missingColumns.length) console.log(`    missing:    ${c.missingColumns.join(', ')}`)
    if (c.unexpectedColumns.length) console.log(`    unexpected: ${c.unexpectedColumns.join(', ')}`)
    for (const d of c.defaultMismatches) console.log(`    default ${d.column}: expected ${d.expected}, actual ${d.actual}`)
    for (const d of c.typeMismatches) console.log(`    type ${d.column}: expected ${d.expected}, actual ${d.actual}`)
    for (const d of c.nullabilityMismatches) {
      console.log(`    nullability ${d.column}: expected ${d.expected ? 'NOT NULL' : 'nullable'}, actual ${d.actual ? 'NOT NULL' : 'nullable'}`)
    }
  })
  section('CONSTRAINT DRIFT (missing or unexpected constraints)', report.constraintDrift, c => {
    console.log(`  ${c.table}`)
    for (const d of c.missingConstraints) console.log(`    missing:    ${d}`)
    for (const d of c.unexpectedConstraints) console.log(`    unexpected: ${d}`)
  })
  if (report.enumDrift) {
    const e = report.enumDrift
    console.log('\nENUM DRIFT (value set/order differs):')
    console.log(`  ${e.name}`)
    console.log(`    expected: ${e.expectedValues.join(', ')}`)
    console.log(`    actual:   ${e.actualValues.join(', ')}`)
  }
  console.log('\n✗ Schema drift detected')
  process.exitCode = 1
}

module.exports = { doctor }
