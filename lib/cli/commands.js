'use strict'
// The CLI's commands, with pg-boss 12.38's CLI output and exit codes. Every statement comes from
// the engine: the plan functions for printed SQL, and for what runs, an instance that is never
// started (src/admin.rs behind PgBoss[ADMIN]): no worker, maintenance or BAM runner starts.

const PgBoss = require('../../index.js')
const { ADMIN } = require('../admin.js')
const plans = require('../plans.js')
const { UsageError, loadConfigFile, schemaOf, backendOf, connectionOptions } = require('./config.js')
const { doctor } = require('./doctor.js')

const { oldest: OLDEST_VERSION, latest: SCHEMA_VERSION } = plans.migratableVersions()

// these backends get pg-boss's non-partitioned layout, which pg-boss-native installs and serves
// at version 46 but has no upgrade or rollback steps for (README "Not yet")
const FOREIGN_LAYOUTS = ['cockroachdb', 'yugabytedb']

function refuseForeignLayout (backend) {
  if (FOREIGN_LAYOUTS.includes(backend)) {
    throw new UsageError([
      `Error: pg-boss-native migrates and rolls back PostgreSQL's partitioned schema only; the ${backend} backend's non-partitioned schema is installed at version ${SCHEMA_VERSION} and never stepped.`,
      `Use pg-boss 12.38's CLI (npx pg-boss@12.38.0) to migrate a ${backend} schema.`
    ])
  }
}

/**
 * The command line's connection options, checked by the constructor before anything connects
 * (as 12.38 checks its config up front, so a `--dry-run` that connects best effort still refuses
 * a bad schema name).
 */
function checkedOptions (args) {
  const options = connectionOptions(args, loadConfigFile(args.config))
  new PgBoss(options) // eslint-disable-line no-new
  return { options }
}

/** `fn(boss)` on an instance whose pool is open (never started), closed afterwards. */
async function withDatabase (options, fn) {
  const boss = new PgBoss(options)
  await boss[ADMIN]('open')
  try {
    return await fn(boss)
  } finally {
    await boss[ADMIN]('close')
  }
}

/** The schema's version, or null once it has said the schema is not installed. */
async function installedVersion (boss, schema) {
  const found = await boss.schemaVersion()
  if (found === null) console.log(`pg-boss is not installed in schema "${schema}"`)
  return found
}

async function version (args) {
  const { options } = checkedOptions(args)
  const schema = options.schema
  await withDatabase(options, async boss => {
    const found = await installedVersion(boss, schema)
    if (found === null) return
    console.log(`Current schema version: ${found}`)
    console.log(`Latest schema version: ${SCHEMA_VERSION}`)
    if (found < SCHEMA_VERSION) console.log(`Migrations pending: ${SCHEMA_VERSION - found}`)
    else console.log('Schema is up to date')
  })
}

async function install (boss, schema) {
  await boss[ADMIN]('install')
  console.log(`Successfully created pg-boss schema "${schema}" at version ${SCHEMA_VERSION}`)
}

async function create (args) {
  const { options } = checkedOptions(args)
  const schema = options.schema
  if (args.dryRun) {
    console.log('-- SQL to create pg-boss schema:')
    console.log(plans.getConstructionPlans(schema, options.backend ? { backend: options.backend } : undefined))
    return
  }
  await withDatabase(options, async boss => {
    const found = await boss.schemaVersion()
    if (found !== null) {
      console.log(`pg-boss is already installed in schema "${schema}" at version ${found}`)
      return
    }
    console.log(`Creating pg-boss schema "${schema}"...`)
    await install(boss, schema)
  })
}

/** What `migrate --dry-run` renders from: the version found and the partitioned tables, best effort. */
async function migrationInputs (options) {
  const found = { version: null, partitionTables: [] }
  try {
    await withDatabase(options, async boss => {
      found.partitionTables = await boss[ADMIN]('partitionTables').catch(() => [])
      found.version = await boss.schemaVersion().catch(() => null)
    })
  } catch {
    // no reachable database: the script covers job_common only
  }
  return found
}

async function migrate (args) {
  const { options } = checkedOptions(args)
  const schema = options.schema
  refuseForeignLayout(options.backend)
  if (args.dryRun) {
    // What `migrate` would run, its index builds spelled out after the COMMIT (no BAM runner
    // would see queued ones). Offline or not installed, from the oldest version we migrate.
    const { version: found, partitionTables } = await migrationInputs(options)
    if (found !== null && found >= SCHEMA_VERSION) {
      console.log(`-- pg-boss schema "${schema}" is already at version ${found} (latest: ${SCHEMA_VERSION}); nothing to migrate.`)
      return
    }
    const from = found ?? OLDEST_VERSION
    const sql = plans.getMigrationPlans(schema, from, { partitionTables })
    console.log(`-- SQL to migrate pg-boss from version ${from} to ${SCHEMA_VERSION}:`)
    console.log(sql)
    return
  }
  await withDatabase(options, async boss => {
    const found = await boss.schemaVersion()
    if (found === null) {
      console.log(`pg-boss is not installed. Creating schema "${schema}"...`)
      await install(boss, schema)
      return
    }
    // an upgrade from pg-boss 10 killed part way reads 46 while jobs wait aside: carry it on
    const resuming = found === SCHEMA_VERSION && await boss[ADMIN]('v10Pending')
    if (found >= SCHEMA_VERSION && !resuming) {
      console.log(`pg-boss schema "${schema}" is already at version ${found} (latest: ${SCHEMA_VERSION})`)
      return
    }
    console.log(resuming
      ? `Resuming the upgrade of pg-boss schema "${schema}" from pg-boss 10 to version ${SCHEMA_VERSION}...`
      : `Migrating pg-boss schema "${schema}" from version ${found} to ${SCHEMA_VERSION}...`)
    // the engine decides the path from the version found (src/migrate.rs upgrade_plan) and
    // builds the indexes itself after the COMMIT, on job_common and every partition
    const { failedBuild } = await boss[ADMIN]('upgrade', [found])
    if (failedBuild) {
      // the version is committed; nothing would retry the rest, so the operator gets them
      console.error(`pg-boss schema "${schema}" is at version ${SCHEMA_VERSION}, but an index build failed: ${failedBuild.error}`)
      console.error('Drop any invalid index the failed build left, then run these statements one at a time:\n')
      console.error(failedBuild.remaining.join('\n\n'))
      process.exitCode = 1
      return
    }
    console.log(`Successfully migrated pg-boss schema "${schema}" to version ${SCHEMA_VERSION}`)
  })
}

async function rollback (args) {
  const { options } = checkedOptions(args)
  const schema = options.schema
  refuseForeignLayout(options.backend)
  await withDatabase(options, async boss => {
    const found = await installedVersion(boss, schema)
    if (found === null) return
    if (found <= 1) {
      console.log('Cannot rollback: already at minimum version')
      return
    }
    if (args.dryRun) {
      const sql = plans.getRollbackPlans(schema, found)
      console.log(`-- SQL to rollback pg-boss from version ${found} to ${found - 1}:`)
      console.log(sql)
      return
    }
    console.log(`Rolling back pg-boss schema "${schema}" from version ${found} to ${found - 1}...`)
    const now = await boss[ADMIN]('rollback', [found])
    console.log(`Successfully rolled back pg-boss schema "${schema}" to version ${now}`)
  })
}

async function plansCommand (args) {
  const fileConfig = loadConfigFile(args.config)
  const schema = schemaOf(args, fileConfig)
  const backend = backendOf(args, fileConfig)
  const subCommand = args.subCommand || 'migrate'
  // no connection needed, but the schema name and backend are checked as the constructor checks them
  new PgBoss({ schema, ...(backend ? { backend } : {}) }) // eslint-disable-line no-new
  switch (subCommand) {
    case 'create':
    case 'construct':
      console.log('-- SQL to create pg-boss schema:')
      console.log(plans.getConstructionPlans(schema, backend ? { backend } : undefined))
      break
    case 'migrate': {
      refuseForeignLayout(backend)
      // with a connection, the index builds fan out across the partitioned tables
      const connection = connectionOptions(args, fileConfig, { required: false })
      let partitionTables = []
      if (connection) partitionTables = (await migrationInputs(connection)).partitionTables
      console.log(`-- SQL to migrate pg-boss (from version ${OLDEST_VERSION} to latest):`)
      if (!connection) {
        console.log('-- note: no database connection provided; partitioned queue tables were not enumerated.')
        console.log('-- Run with a connection (e.g. --connection-string) to include per-partition index builds.')
      }
      console.log(plans.getMigrationPlans(schema, OLDEST_VERSION, { partitionTables }))
      break
    }
    case 'rollback':
      refuseForeignLayout(backend)
      console.log(`-- SQL to rollback pg-boss from version ${SCHEMA_VERSION} to ${SCHEMA_VERSION - 1}:`)
      console.log(plans.getRollbackPlans(schema, SCHEMA_VERSION))
      break
    case 'uninstall':
      console.log('-- SQL to remove every pg-boss object from a schema it shares with other objects.')
      console.log(`-- If pg-boss has the schema to itself, DROP SCHEMA ${schema} CASCADE does the same.`)
      console.log(plans.getUninstallPlans(schema, backend ? { backend } : {}))
      break
    default:
      throw new UsageError([`Unknown plans subcommand: ${subCommand}`, 'Available: create, migrate, rollback, uninstall'])
  }
}

async function reindex (args) {
  const { options } = checkedOptions(args)
  const schema = options.schema
  await withDatabase(options, async boss => {
    const found = await installedVersion(boss, schema)
    if (found === null) {
      process.exitCode = 1
      return
    }
    if (FOREIGN_LAYOUTS.includes(options.backend)) {
      console.error(`Reindexing is not supported on the ${options.backend} backend.`)
      console.error('Index maintenance there is handled by the storage engine, and the bloat check cannot run: pg_class.relpages and pg_relation_size() are unavailable or always zero.')
      process.exitCode = 1
      return
    }
    let rows
    try {
      rows = await boss[ADMIN]('jobIndexes', [Boolean(args.force)])
    } catch (err) {
      console.error(`Could not read index statistics from schema "${schema}": ${err.message}`)
      console.error('The bloat check reads pg_class.relpages and pg_relation_size(), which CockroachDB and YugabyteDB do not provide.')
      process.exitCode = 1
      return
    }
    if (!rows.length) {
      console.log(args.force ? `No job indexes found in schema "${schema}"` : `No bloated indexes found in schema "${schema}"`)
      return
    }
    if (args.dryRun) {
      // every index, whoever owns it: the printed SQL is for an operator, who may run it as the owner
      const commands = await boss[ADMIN]('reindexCommands', [rows.map(i => i.name)])
      console.log(`-- SQL to rebuild ${rows.length} index(es) in schema "${schema}":`)
      for (const command of commands) console.log(`${command};`)
      for (const index of rows.filter(i => !i.owned)) {
        console.log(`-- note: "${index.name}" is not owned by ${options.user || 'the connected role'} and needs a role that can REINDEX it`)
      }
      return
    }
    for (const index of rows) {
      console.log(`  ${index.table}.${index.name}: ${Math.round(Number(index.bytes) / 1024 / 1024)} MB across ${index.pages} pages, ~${index.entries} live entries`)
    }
    // REINDEX needs ownership: an index this role cannot touch is reported, not attempted
    const skipped = rows.filter(index => !index.owned)
    const targets = rows.filter(index => index.owned)
    for (const index of skipped) console.error(`  ✗ ${index.name}\n    the connected role does not own this index and cannot reindex it`)
    if (!targets.length) {
      process.exitCode = 1
      return
    }
    const commands = await boss[ADMIN]('reindexCommands', [targets.map(i => i.name)])
    console.log(`\nRebuilding ${targets.length} index(es)...`)
    let failures = skipped.length
    const db = boss.getDb()
    for (const command of commands) {
      try {
        await db.executeSql(command)
        console.log(`  ✓ ${command}`)
      } catch (err) {
        failures++
        console.error(`  ✗ ${command}\n    ${err.message}`)
      }
    }
    if (failures) process.exitCode = 1
    else console.log('\n✓ Done')
  })
}

async function doctorCommand (args) {
  const { options } = checkedOptions(args)
  await withDatabase(options, boss => doctor(boss, options.schema, SCHEMA_VERSION, args))
}

module.exports = {
  version,
  create,
  migrate,
  rollback,
  plans: plansCommand,
  reindex,
  doctor: doctorCommand
}
