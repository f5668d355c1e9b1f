// The `pg-boss-native` command line, run as a child process against the database, beside pg-boss
// 12.38's own CLI on the same input: the same output and exit codes, our SQL.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { getConstructionPlans, getMigrationPlans, getRollbackPlans, getUninstallPlans } from '../index.mjs'
import { connectionString, dropSchema, startPgBoss, schemasForFile } from './helpers.mjs'
import { catalog as catalogOf } from './support/catalog.mjs'

const require = createRequire(import.meta.url)
const OURS = fileURLToPath(new URL('../bin/pg-boss-native.js', import.meta.url))
const THEIRS = join(require.resolve('pg-boss/package.json'), '..', require('pg-boss/package.json').bin['pg-boss'])
const SERVED = require('../package.json').pgboss.schema
// the oldest schema version pg-boss-native upgrades, as the engine reports it
const { oldest: OLDEST } = require('../lib/plans.js').migratableVersions()

// a v10 upgrade leaves the old schema beside the new one as <schema>_v10
const schemas = schemasForFile('cli', { alsoDrop: s => [`${s}_v10`] })
const { db, version } = schemas
let cwd
before(() => { cwd = mkdtempSync(join(tmpdir(), 'pgbn-cli-')) })
after(() => { rmSync(cwd, { recursive: true, force: true }) })

async function schemaName (label) {
  const s = schemas.schemaName(label)
  await dropSchema(s)
  return s
}

// an environment without the CLI's variables, so each test names what it reads
function cleanEnv (extra = {}) {
  const env = { ...process.env, ...extra }
  for (const key of Object.keys(process.env)) if (key.startsWith('PGBOSS_')) delete env[key]
  return { ...env, ...extra }
}

/** The CLI (ours, or pg-boss 12.38's with `theirs`) run with `args`: `{ code, stdout, stderr }`. */
function run (args, { theirs = false, env = {}, dir = cwd } = {}) {
  return new Promise(resolve => {
    execFile(process.execPath, [theirs ? THEIRS : OURS, ...args], { cwd: dir, env: cleanEnv(env), timeout: 120000 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr })
    })
  })
}

const conn = schema => ['--connection-string', connectionString, '--schema', schema]

/** 12.38's text in our words: the same message, naming our command. */
const asOurs = text => text.replaceAll('"pg-boss ', '"pg-boss-native ')

async function installed (schema) {
  const { rows } = await db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
  return rows.length > 0
}

const catalog = schema => catalogOf(db, schema)

/** A schema made by an older pg-boss release, with queues partitioned and not, and a job each. */
async function oldSchema (schema, release) {
  await dropSchema(schema)
  const { PgBoss: Old } = await import(release)
  const old = new Old({ connectionString, schema, supervise: false, schedule: false })
  old.on('error', () => {})
  await old.start()
  try {
    for (const policy of ['standard', 'singleton', 'stately']) {
      for (const partition of [false, true]) {
        const name = `${policy}-${partition ? 'p' : 'c'}`
        await old.createQueue(name, { policy, partition })
        await old.send(name, { policy })
      }
    }
  } finally {
    await old.stop({ graceful: false })
  }
}

async function driftOf (schema) {
  const ref = await startPgBoss(schema, { migrate: false })
  try {
    return await ref.detectSchemaDrift()
  } finally {
    await ref.stop({ graceful: false })
  }
}

// ---- bad input ----

test('--help and no command print the usage and exit 0', async () => {
  for (const args of [['--help'], ['-h'], []]) {
    const { code, stdout } = await run(args)
    assert.equal(code, 0)
    assert.match(stdout, /Usage: pg-boss-native <command> \[options\]/)
    assert.match(stdout, /PGBOSS_DATABASE_URL/)
  }
})

test('bad input gets 12.38\'s message and exit code', async () => {
  const cases = [
    ['bogus'], // unknown command
    ['version'], // no connection configured
    ['migrate', '--schema', 'x'],
    ['plans', 'foo'], // unknown subcommand
    ['version', '--connection-string', connectionString, '--schema', 'Bad-Name'],
    ['version', '--connection-string', connectionString, '--backend', 'nope'],
    ['migrate', '--connection-string', connectionString, '--backend', 'pglite']
  ]
  for (const args of cases) {
    const ours = await run(args)
    const theirs = await run(args, { theirs: true })
    assert.equal(ours.code, 1, `${args.join(' ')}: ${ours.stderr}`)
    assert.equal(ours.code, theirs.code, args.join(' '))
    assert.equal(ours.stderr, asOurs(theirs.stderr), args.join(' '))
    assert.equal(ours.stdout, theirs.stdout, args.join(' '))
  }
})

test('an unknown option is refused with node\'s parseArgs message, exit 1', async () => {
  const { code, stderr } = await run(['version', '--bogus'])
  assert.equal(code, 1)
  assert.match(stderr, /^Error: Unknown option '--bogus'/)
  const theirs = await run(['version', '--bogus'], { theirs: true })
  assert.equal(theirs.code, 1)
  assert.match(theirs.stderr, /Unknown option '--bogus'/)
})

test('a config file that is not JSON is refused as 12.38 refuses it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgbn-cli-bad-'))
  try {
    writeFileSync(join(dir, 'pgboss.json'), '{ not json')
    const ours = await run(['version'], { dir })
    const theirs = await run(['version'], { dir, theirs: true })
    assert.equal(ours.code, 1)
    assert.equal(theirs.code, 1)
    assert.match(ours.stderr, /^Error reading config file .*pgboss\.json: /)
    assert.equal(ours.stderr, theirs.stderr)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('create installs the backend\'s layout; migrate and rollback refuse the layouts we never step', async () => {
  const schema = await schemaName('crdb')
  const made = await run(['create', ...conn(schema), '--backend', 'cockroachdb'])
  assert.equal(made.code, 0, made.stderr)
  assert.equal(await installed(schema), true)
  const { rows } = await db.query('SELECT to_regclass($1) AS common', [`${schema}.job_common`])
  assert.equal(rows[0].common, null, 'the non-partitioned layout has no job_common')
  const twin = await schemaName('crdb_twin')
  assert.equal((await run(['create', ...conn(twin), '--backend', 'cockroachdb'], { theirs: true })).code, 0)
  assert.deepEqual(await catalog(schema), await catalog(twin))
  const printed = await run(['plans', 'create', '--schema', schema, '--backend', 'yugabytedb'])
  assert.equal(printed.stdout, `-- SQL to create pg-boss schema:\n${getConstructionPlans(schema, { backend: 'yugabytedb' })}\n`)
  for (const args of [['migrate', ...conn(schema), '--backend', 'cockroachdb'], ['plans', 'rollback', '--backend', 'yugabytedb']]) {
    const { code, stderr } = await run(args)
    assert.equal(code, 1, args.join(' '))
    assert.match(stderr, /pg-boss-native migrates and rolls back PostgreSQL's partitioned schema only/)
  }
})

// ---- plans (offline) ----

test('plans prints our SQL: create, migrate, rollback, uninstall', async () => {
  const create = await run(['plans', 'create', '--schema', 'cli_plans'])
  assert.equal(create.code, 0)
  assert.equal(create.stdout, `-- SQL to create pg-boss schema:\n${getConstructionPlans('cli_plans')}\n`)

  const rollback = await run(['plans', 'rollback', '--schema', 'cli_plans'])
  assert.equal(rollback.stdout, `-- SQL to rollback pg-boss from version ${SERVED} to ${SERVED - 1}:\n${getRollbackPlans('cli_plans', SERVED)}\n`)

  const uninstall = await run(['plans', 'uninstall', '--schema', 'cli_plans'])
  assert.equal(uninstall.stdout, '-- SQL to remove every pg-boss object from a schema it shares with other objects.\n' +
    '-- If pg-boss has the schema to itself, DROP SCHEMA cli_plans CASCADE does the same.\n' +
    `${getUninstallPlans('cli_plans')}\n`)

  // no subcommand is migrate; offline it says the partitions were not enumerated
  const migrate = await run(['plans', '--schema', 'cli_plans'])
  assert.equal(migrate.code, 0)
  const lines = migrate.stdout.split('\n')
  assert.equal(lines[0], `-- SQL to migrate pg-boss (from version ${OLDEST} to latest):`)
  assert.match(lines[1], /^-- note: no database connection provided/)
  assert.equal(lines.slice(3).join('\n'), `${getMigrationPlans('cli_plans', OLDEST)}\n`)
})

// ---- create, version, doctor, rollback ----

test('create --dry-run prints our install and creates nothing', async () => {
  const schema = await schemaName('dry_create')
  const { code, stdout } = await run(['create', ...conn(schema), '--dry-run'])
  assert.equal(code, 0)
  assert.equal(stdout, `-- SQL to create pg-boss schema:\n${getConstructionPlans(schema)}\n`)
  assert.equal(await installed(schema), false)
})

test('create installs the schema, and says so as 12.38 does; a second create leaves it', async () => {
  const schema = await schemaName('create')
  const ours = await run(['create', ...conn(schema)])
  assert.equal(ours.code, 0, ours.stderr)
  assert.equal(ours.stdout, `Creating pg-boss schema "${schema}"...\nSuccessfully created pg-boss schema "${schema}" at version ${SERVED}\n`)
  assert.equal(await version(schema), SERVED)
  assert.equal((await driftOf(schema)).ok, true)

  const again = await run(['create', ...conn(schema)])
  const theirs = await run(['create', ...conn(schema)], { theirs: true })
  assert.equal(again.stdout, `pg-boss is already installed in schema "${schema}" at version ${SERVED}\n`)
  assert.equal(again.stdout, theirs.stdout)

  // the same catalog as 12.38's CLI installs
  const twin = await schemaName('create_twin')
  assert.equal((await run(['create', ...conn(twin)], { theirs: true })).code, 0)
  assert.deepEqual(await catalog(schema), await catalog(twin))
})

test('version prints the schema version as 12.38 does', async () => {
  const schema = await schemaName('version')
  const missing = await run(['version', ...conn(schema)])
  assert.equal(missing.code, 0)
  assert.equal(missing.stdout, `pg-boss is not installed in schema "${schema}"\n`)

  await run(['create', ...conn(schema)])
  const ours = await run(['version', ...conn(schema)])
  const theirs = await run(['version', ...conn(schema)], { theirs: true })
  assert.equal(ours.code, 0)
  assert.equal(ours.stdout, `Current schema version: ${SERVED}\nLatest schema version: ${SERVED}\nSchema is up to date\n`)
  assert.equal(ours.stdout, theirs.stdout)
})

test('a database that cannot be reached is an error, exit 1', async () => {
  const { code, stderr } = await run(['version', '--connection-string', 'postgres://root@127.0.0.1:1/none'])
  assert.equal(code, 1)
  assert.match(stderr, /^Error: /)
})

test('doctor reports no drift, then the index dropped, with 12.38\'s report and exit code', async () => {
  const schema = await schemaName('doctor')
  await run(['create', ...conn(schema)])
  const clean = await run(['doctor', ...conn(schema)])
  assert.equal(clean.code, 0, clean.stdout + clean.stderr)
  assert.equal(clean.stdout, `Schema "${schema}" version ${SERVED} (latest: ${SERVED})\n\n✓ No drift detected\n`)
  assert.equal(clean.stdout, (await run(['doctor', ...conn(schema)], { theirs: true })).stdout)

  await db.query(`DROP INDEX ${schema}.job_common_i3`)
  const drift = await run(['doctor', ...conn(schema)])
  assert.equal(drift.code, 1)
  assert.match(drift.stdout, new RegExp(`\\nMISSING \\(expected but absent\\) \\(1\\):\\n  job_common\\.job_common_i3\\n    expected: CREATE UNIQUE INDEX job_common_i3 ON ${schema}\\.job_common `))
  assert.match(drift.stdout, /\n✗ Schema drift detected\n$/)
  const theirs = await run(['doctor', ...conn(schema)], { theirs: true })
  assert.equal(theirs.code, 1)
  assert.equal(drift.stdout, asOurs(theirs.stdout))
})

test('doctor --fix restores a job_now() a killed TestClock left overridden', async () => {
  const schema = await schemaName('doctor_fix')
  await run(['create', ...conn(schema)])
  const { TestClock } = await import('../index.mjs')
  // what a TestClock leaves behind when its process dies before releasing it
  const clock = new TestClock(new Date('2030-01-01T00:00:00Z'))
  await clock.attach({ db: { executeSql: (text, values) => db.query(text, values) }, schema })
  const before = await run(['doctor', ...conn(schema)])
  assert.equal(before.code, 1)
  assert.match(before.stdout, /job_now\(\) carries a TestClock override/)
  assert.match(before.stdout, /"pg-boss-native doctor --fix"/)
  const fixed = await run(['doctor', ...conn(schema), '--fix'])
  assert.equal(fixed.code, 0, fixed.stdout)
  assert.match(fixed.stdout, /Restoring it/)
  assert.match(fixed.stdout, /✓ No drift detected\n$/)
  const nothing = await run(['doctor', ...conn(schema), '--fix'])
  assert.match(nothing.stdout, /Nothing for --fix to repair/)
})

test('rollback --dry-run prints our rollback; rollback takes the schema back one version', async () => {
  const schema = await schemaName('rollback')
  await run(['create', ...conn(schema)])
  const dry = await run(['rollback', ...conn(schema), '--dry-run'])
  assert.equal(dry.code, 0)
  assert.equal(dry.stdout, `-- SQL to rollback pg-boss from version ${SERVED} to ${SERVED - 1}:\n${getRollbackPlans(schema, SERVED)}\n`)
  assert.equal(await version(schema), SERVED)

  const ours = await run(['rollback', ...conn(schema)])
  assert.equal(ours.code, 0, ours.stderr)
  assert.equal(ours.stdout, `Rolling back pg-boss schema "${schema}" from version ${SERVED} to ${SERVED - 1}...\n` +
    `Successfully rolled back pg-boss schema "${schema}" to version ${SERVED - 1}\n`)
  assert.equal(await version(schema), SERVED - 1)

  // the catalog 12.38's CLI leaves rolling back its own install
  const twin = await schemaName('rollback_twin')
  await run(['create', ...conn(twin)], { theirs: true })
  await run(['rollback', ...conn(twin)], { theirs: true })
  assert.deepEqual(await catalog(schema), await catalog(twin))

  // and migrate brings it back
  const up = await run(['migrate', ...conn(schema)])
  assert.equal(up.code, 0, up.stderr)
  assert.equal(await version(schema), SERVED)
})

test('rollback below the oldest version we migrate is refused, exit 1', async () => {
  const schema = await schemaName('rollback_floor')
  await run(['create', ...conn(schema)])
  await db.query(`UPDATE ${schema}.version SET version = ${OLDEST}`)
  const { code, stderr } = await run(['rollback', ...conn(schema)])
  assert.equal(code, 1)
  assert.match(stderr, new RegExp(`^Error: Version ${OLDEST} not found: pg-boss-native has no rollback of schema version ${OLDEST}`))
  assert.equal(await version(schema), OLDEST)
})

test('reindex finds nothing bloated on a fresh install; --force rebuilds every job index, as 12.38 does', async () => {
  const schema = await schemaName('reindex')
  await run(['create', ...conn(schema)])
  const none = await run(['reindex', ...conn(schema)])
  assert.equal(none.code, 0)
  assert.equal(none.stdout, `No bloated indexes found in schema "${schema}"\n`)
  const dry = await run(['reindex', ...conn(schema), '--force', '--dry-run'])
  assert.equal(dry.code, 0)
  assert.match(dry.stdout, new RegExp(`^-- SQL to rebuild \\d+ index\\(es\\) in schema "${schema}":\n`))
  assert.match(dry.stdout, new RegExp(`\nREINDEX INDEX CONCURRENTLY ${schema}\\."job_common_pkey";\n`))
  assert.deepEqual(dry.stdout.split('\n').sort(), (await run(['reindex', ...conn(schema), '--force', '--dry-run'], { theirs: true })).stdout.split('\n').sort())
  const forced = await run(['reindex', ...conn(schema), '--force'])
  assert.equal(forced.code, 0, forced.stderr)
  assert.match(forced.stdout, /\n {2}✓ REINDEX INDEX CONCURRENTLY [^\n]+"job_common_i3"\n/)
  assert.match(forced.stdout, /\n✓ Done\n$/)
  // the same lines (indexes of one size come in no particular order)
  const lines = text => text.split('\n').sort()
  assert.deepEqual(lines(forced.stdout), lines((await run(['reindex', ...conn(schema), '--force'], { theirs: true })).stdout))
  assert.equal((await driftOf(schema)).ok, true)

  const missing = await run(['reindex', ...conn('cli_none')])
  assert.equal(missing.code, 1)
  assert.equal(missing.stdout, 'pg-boss is not installed in schema "cli_none"\n')
})

// ---- migrate ----

test('migrate --dry-run prints our migration from the version found and changes nothing', async () => {
  const schema = await schemaName('dry_migrate')
  await oldSchema(schema, 'pgb1227')
  const before = await catalog(schema)
  const { rows: partitions } = await db.query(`SELECT table_name AS "tableName", policy FROM ${schema}.queue WHERE partition ORDER BY table_name`)
  assert.ok(partitions.length > 0)
  const { code, stdout } = await run(['migrate', ...conn(schema), '--dry-run'])
  assert.equal(code, 0)
  assert.equal(stdout, `-- SQL to migrate pg-boss from version 37 to ${SERVED}:\n${getMigrationPlans(schema, 37, { partitionTables: partitions })}\n`)
  // the builds are aimed at the partitions, after the COMMIT
  assert.match(stdout, new RegExp(`COMMIT;[^]*CREATE INDEX CONCURRENTLY IF NOT EXISTS ${partitions[0].tableName}_i`))
  assert.equal(await version(schema), 37)
  assert.deepEqual(await catalog(schema), before)

  // at the served version there is nothing to print
  const current = await schemaName('dry_current')
  await run(['create', ...conn(current)])
  const none = await run(['migrate', ...conn(current), '--dry-run'])
  assert.equal(none.stdout, `-- pg-boss schema "${current}" is already at version ${SERVED} (latest: ${SERVED}); nothing to migrate.\n`)
  assert.equal(none.stdout, (await run(['migrate', ...conn(current), '--dry-run'], { theirs: true })).stdout)
})

for (const [release, from] of [['pgb1227', 37], ['pgb125', 26]]) {
  test(`migrate upgrades a schema made by ${release} (${from}) to the catalog 12.38's CLI leaves, indexes built`, async () => {
    const schema = await schemaName(`migrate_${from}`)
    const twin = await schemaName(`migrate_${from}_twin`)
    await oldSchema(schema, release)
    await oldSchema(twin, release)
    const { rows: jobsBefore } = await db.query(`SELECT id, name, state, data FROM ${schema}.job ORDER BY id`)

    const ours = await run(['migrate', ...conn(schema)])
    assert.equal(ours.code, 0, ours.stderr)
    assert.equal(ours.stdout, `Migrating pg-boss schema "${schema}" from version ${from} to ${SERVED}...\n` +
      `Successfully migrated pg-boss schema "${schema}" to version ${SERVED}\n`)
    assert.equal(await version(schema), SERVED)
    const { rows: jobsAfter } = await db.query(`SELECT id, name, state, data FROM ${schema}.job ORDER BY id`)
    assert.deepEqual(jobsAfter, jobsBefore)

    const theirs = await run(['migrate', ...conn(twin)], { theirs: true })
    assert.equal(theirs.code, 0, theirs.stderr)
    assert.equal(ours.stdout, theirs.stdout.replaceAll(twin, schema))
    assert.deepEqual(await catalog(schema), await catalog(twin))

    // nothing left building: 12.38's drift check is clean
    const drift = await driftOf(schema)
    assert.equal(drift.ok, true, JSON.stringify(drift))
    assert.deepEqual(drift.building, [])

    const again = await run(['migrate', ...conn(schema)])
    assert.equal(again.stdout, `pg-boss schema "${schema}" is already at version ${SERVED} (latest: ${SERVED})\n`)
  })
}

test('migrate reports an index build that fails after the COMMIT with the statements left, exit 1', async () => {
  const schema = await schemaName('migrate_build')
  await run(['create', ...conn(schema)])
  const { PgBoss } = await import('../index.mjs')
  const boss = new PgBoss({ connectionString, schema, supervise: false, schedule: false })
  await boss.start()
  await boss.createQueue('p1', { partition: true })
  await boss.createQueue('p2', { partition: true })
  await boss.stop({ graceful: false })
  assert.equal((await run(['rollback', ...conn(schema)])).code, 0)
  // a partition's table gone behind the queue's back: its first build cannot run
  const { rows: [{ table_name: gone }] } = await db.query(`SELECT table_name FROM ${schema}.queue WHERE name = 'p1'`)
  await db.query(`ALTER TABLE ${schema}.job DETACH PARTITION ${schema}.${gone}`)
  await db.query(`DROP TABLE ${schema}.${gone}`)

  const { code, stdout, stderr } = await run(['migrate', ...conn(schema)])
  assert.equal(code, 1)
  assert.equal(stdout, `Migrating pg-boss schema "${schema}" from version ${SERVED - 1} to ${SERVED}...\n`)
  const [first, second, , ...rest] = stderr.trimEnd().split('\n')
  assert.equal(first, `pg-boss schema "${schema}" is at version ${SERVED}, but an index build failed: relation "${schema}.${gone}" does not exist`)
  assert.equal(second, 'Drop any invalid index the failed build left, then run these statements one at a time:')
  // the failed statement first, then every one not attempted
  const left = rest.filter(line => line.startsWith('CREATE INDEX CONCURRENTLY'))
  assert.match(left[0], new RegExp(`^CREATE INDEX CONCURRENTLY IF NOT EXISTS ${gone}_i14 ON ${schema}\\.${gone} `))
  assert.ok(left.some(line => line.includes(`${schema}.job_common (name, singleton_key, created_on)`)))
  assert.equal(await version(schema), SERVED)
})

test('migrate creates a missing schema', async () => {
  const schema = await schemaName('migrate_new')
  const { code, stdout } = await run(['migrate', ...conn(schema)])
  assert.equal(code, 0)
  assert.equal(stdout, `pg-boss is not installed. Creating schema "${schema}"...\nSuccessfully created pg-boss schema "${schema}" at version ${SERVED}\n`)
  assert.equal(await version(schema), SERVED)
})

test('migrate refuses a version it has no path from, saying what to do, and changes nothing', async () => {
  const schema = await schemaName('migrate_old')
  await run(['create', ...conn(schema)])
  // pg-boss 9's schema version: older than any release pg-boss-native upgrades
  await db.query(`UPDATE ${schema}.version SET version = 20`)
  const { code, stderr } = await run(['migrate', ...conn(schema)])
  assert.equal(code, 1)
  assert.match(stderr, /^Error: pg-boss-native serves pg-boss schema version 46, but schema cli_migrate_old is at version 20\. /)
  assert.equal(await version(schema), 20)
})

// ---- configuration ----

test('a config file in the working directory (pgboss.json, .pgbossrc) or --config is read', async () => {
  const schema = await schemaName('config')
  await run(['create', ...conn(schema)])
  const dir = mkdtempSync(join(tmpdir(), 'pgbn-cli-config-'))
  try {
    const file = join(dir, 'pgboss.json')
    writeFileSync(file, JSON.stringify({ connectionString, schema }))
    const ours = await run(['version'], { dir })
    assert.equal(ours.code, 0, ours.stderr)
    assert.equal(ours.stdout, `Loaded config from ${file}\nCurrent schema version: ${SERVED}\nLatest schema version: ${SERVED}\nSchema is up to date\n`)
    assert.equal(ours.stdout, (await run(['version'], { dir, theirs: true })).stdout)
    rmSync(file)

    const rc = join(dir, '.pgbossrc')
    writeFileSync(rc, JSON.stringify({ connectionString, schema: 'cli_none' }))
    assert.match((await run(['version'], { dir })).stdout, /pg-boss is not installed in schema "cli_none"/)
    // options win over the file
    assert.match((await run(['version', '--schema', schema], { dir })).stdout, /Schema is up to date/)

    const named = join(dir, 'elsewhere.json')
    writeFileSync(named, JSON.stringify({ connectionString, schema }))
    const viaOption = await run(['version', '--config', named], { dir })
    assert.equal(viaOption.stdout.split('\n')[0], `Loaded config from ${named}`)
    assert.match(viaOption.stdout, /Schema is up to date/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('PGBOSS_* environment variables are read', async () => {
  const schema = await schemaName('env')
  await run(['create', ...conn(schema)])
  const url = new URL(connectionString)
  const byUrl = await run(['version'], { env: { PGBOSS_DATABASE_URL: connectionString, PGBOSS_SCHEMA: schema } })
  assert.equal(byUrl.code, 0, byUrl.stderr)
  assert.match(byUrl.stdout, /^Current schema version: 46\n/)
  const byParts = await run(['version'], {
    env: {
      PGBOSS_HOST: url.hostname,
      PGBOSS_PORT: url.port || '5432',
      PGBOSS_DATABASE: url.pathname.slice(1),
      PGBOSS_USER: decodeURIComponent(url.username) || process.env.PGUSER,
      PGBOSS_SCHEMA: schema
    }
  })
  assert.equal(byParts.code, 0, byParts.stderr)
  assert.match(byParts.stdout, /Schema is up to date/)
})

test('migrate upgrades a pg-boss 10 schema in place, and --dry-run prints that upgrade first', async () => {
  const schema = await schemaName('migrate_v10')
  await dropSchema(schema)
  const Old = require('pgb104')
  const old = new Old({ connectionString, schema, supervise: false, schedule: false })
  old.on('error', () => {})
  await old.start()
  await old.createQueue('v10q')
  const id = await old.send('v10q', { from: 'v10' })
  await old.stop({ graceful: false, wait: true })
  const from = await version(schema)

  const dry = await run(['migrate', '--dry-run', ...conn(schema)])
  assert.equal(dry.code, 0, dry.stderr)
  assert.equal(dry.stdout, `-- SQL to migrate pg-boss from version ${from} to ${SERVED}:\n${getMigrationPlans(schema, from)}\n`)
  assert.equal(await version(schema), from)

  const ours = await run(['migrate', ...conn(schema)])
  assert.equal(ours.code, 0, ours.stderr)
  assert.equal(ours.stdout, `Migrating pg-boss schema "${schema}" from version ${from} to ${SERVED}...\n` +
    `Successfully migrated pg-boss schema "${schema}" to version ${SERVED}\n`)
  assert.equal(await version(schema), SERVED)
  const { rows } = await db.query(`SELECT name, state::text, data FROM ${schema}.job WHERE id = $1`, [id])
  assert.deepEqual(rows, [{ name: 'v10q', state: 'created', data: { from: 'v10' } }])
})
