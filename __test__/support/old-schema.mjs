// A schema made by an older pg-boss release, for the upgrade tests: queues of every policy the
// release has, partitioned and not, a job in every state on each, a dead letter queue, schedules
// and subscriptions. Imported by __test__/upgrade.test.mjs, or run as a script
// (`node old-schema.mjs <release alias> <schema>`, DATABASE_URL set) in a child Node when the
// release needs a newer Node than the one running the tests.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const root = fileURLToPath(new URL('../../', import.meta.url))

const POLICIES = ['standard', 'short', 'singleton', 'stately', 'exclusive', 'key_strict_fifo']

/**
 * Sending and fetching on queue `name` of an older release's instance `old`, to leave a job in
 * each state: `send(options)` numbers each job's data and gives it its own singletonKey;
 * `fetchOne()` fetches one job (there must be one) and answers its id.
 */
export function jobsOn (old, name, policy) {
  let n = 0
  const send = (options = {}) => old.send(name, { policy, n: n++ }, { singletonKey: `k${n}`, ...options })
  const fetchOne = async () => {
    const [job] = await old.fetch(name)
    assert.ok(job, `a job to fetch on ${name}`)
    return job.id
  }
  return { send, fetchOne }
}

/** `release` (an npm alias such as pgb110) fills `schema`, in this process. */
export async function fillOldSchema (release, schema, connectionString) {
  const module = await import(release)
  // 12.x exports { PgBoss, policies }; 11.x exports the class, with policies as a static
  const Old = module.PgBoss ?? module.default
  const policies = module.policies ?? Old.policies
  const old = new Old({ connectionString, schema, supervise: false, schedule: false })
  old.on('error', () => {})
  await old.start()
  try {
    await old.createQueue('dead')
    // every policy the release has (exclusive came with 11.1, key_strict_fifo with 12.10)
    for (const policy of POLICIES.filter(p => Object.values(policies).includes(p))) {
      for (const partition of [false, true]) {
        const name = `${policy}-${partition ? 'p' : 'c'}`
        await old.createQueue(name, { policy, partition, deadLetter: 'dead', retryLimit: 1 })
        const { send, fetchOne } = jobsOn(old, name, policy)
        await send(); const active = await fetchOne()
        await send(); const done = await fetchOne(); await old.complete(name, done, { ok: true })
        await send({ retryLimit: 0 }); const failed = await fetchOne(); await old.fail(name, failed, { bad: true })
        await send({ retryLimit: 1, retryDelay: 3600 }); const retry = await fetchOne(); await old.fail(name, retry, { again: true })
        const cancelled = await send(); await old.cancel(name, cancelled)
        await send({ startAfter: 3600 })
        await send({ priority: 0 })
        assert.ok(active)
      }
    }
    await old.schedule('standard-c', '*/5 * * * *', { every: 5 }, { tz: 'UTC' })
    await old.schedule('standard-p', '0 1 * * *', null, { tz: 'Europe/Paris', key: 'nightly' })
    await old.subscribe('upgrade-event', 'standard-c')
    await old.subscribe('upgrade-event', 'stately-p')
  } finally {
    await old.stop({ graceful: false })
  }
}

/** The lowest Node major `release` declares it runs on (its package.json engines.node, `>=N`). */
export function requiredNodeMajor (release) {
  const manifest = JSON.parse(readFileSync(require.resolve(`${release}/package.json`), 'utf8'))
  return Number(manifest.engines?.node?.match(/>=\s*(\d+)/)?.[1] ?? 0)
}

/** The Node binary of scripts/node-versions/<major> (a devDependency that carries it), or null. */
export function nodeBinary (major) {
  try {
    const manifestPath = createRequire(join(root, 'scripts', 'node-versions', String(major), 'package.json'))
      .resolve(`node-${major}/package.json`)
    const { bin } = JSON.parse(readFileSync(manifestPath, 'utf8'))
    return join(dirname(manifestPath), typeof bin === 'string' ? bin : bin.node)
  } catch {
    return null
  }
}

/**
 * `release` fills `schema`: here when this Node is one it supports, else in a child process run
 * with the Node it asks for (from scripts/node-versions/), so the fixture is the release's own
 * work whichever Node runs the tests.
 */
export async function makeOldSchema (release, schema, connectionString) {
  const needs = requiredNodeMajor(release)
  if (Number(process.versions.node.split('.')[0]) >= needs) return fillOldSchema(release, schema, connectionString)
  const bin = nodeBinary(needs)
  assert.ok(bin, `${release} needs Node ${needs}, and scripts/node-versions/${needs} has no binary (npm install puts it there)`)
  const child = spawn(bin, [fileURLToPath(import.meta.url), release, schema], {
    env: { ...process.env, DATABASE_URL: connectionString },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', d => { output += d })
  child.stderr.on('data', d => { output += d })
  const code = await new Promise(resolve => child.on('exit', resolve))
  assert.equal(code, 0, `${release} on Node ${needs} (${bin}) failed to make ${schema}:\n${output}`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [release, schema] = process.argv.slice(2)
  await fillOldSchema(release, schema, process.env.DATABASE_URL)
}
