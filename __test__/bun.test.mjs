// fromBunSql: how it rewrites statements for Bun's SQL client (against a fake `sql.unsafe`), and,
// when the `bun` devDependency's binary runs on this machine, pg-boss-native itself under Bun on
// `new SQL(DATABASE_URL)`: a whole instance, and sends in a Bun transaction that commits or rolls back.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { fromBunSql } from '../index.mjs'
import { connectionString, dropSchema } from './helpers.mjs'

const require = createRequire(import.meta.url)

/** A Bun SQL client that records what it is asked and answers `reply(text, values)`. */
function fakeBun (reply = () => []) {
  const calls = []
  const reserved = []
  const connection = (who) => ({
    async unsafe (text, values) { calls.push({ who, text, values }); return reply(text, values) }
  })
  return {
    calls,
    reserved,
    ...connection('pool'),
    async reserve () {
      const c = { ...connection('reserved'), release () { reserved.push('released') } }
      reserved.push('reserved')
      return c
    }
  }
}

describe('fromBunSql against a fake client', () => {
  test('placeholders are renumbered in textual order, repeats included', async () => {
    const bun = fakeBun()
    await fromBunSql(bun).executeSql('SELECT $2::int AS a, $1::text AS b, $2::int AS c', ['x', 7])
    assert.deepEqual(bun.calls, [{ who: 'pool', text: 'SELECT $1::int AS a, $2::text AS b, $3::int AS c', values: [7, 'x', 7] }])
  })

  test('an array bound to an array-typed parameter becomes ARRAY[...] of its elements; a JSON array does not', async () => {
    const bun = fakeBun()
    await fromBunSql(bun).executeSql('SELECT $1::uuid = ANY($2::uuid[]), $3::jsonb, cardinality($4::text[])', ['a', ['a', 'b'], [1, 2], []])
    assert.deepEqual(bun.calls[0], {
      who: 'pool',
      text: 'SELECT $1::uuid = ANY(ARRAY[$2,$3]::uuid[]), $4::jsonb, cardinality(ARRAY[]::text[])',
      values: ['a', 'a', 'b', [1, 2]]
    })
  })

  test('a $n in a string or a dollar-quoted body is left alone', async () => {
    const bun = fakeBun()
    await fromBunSql(bun).executeSql("SELECT '$2' AS s, $1::int AS n, $f$ $1 $f$ AS body", [3])
    assert.deepEqual(bun.calls[0], { who: 'pool', text: "SELECT '$2' AS s, $1::int AS n, $f$ $1 $f$ AS body", values: [3] })
  })

  test('parameterless text goes as it is (the simple protocol runs a script); BEGIN scripts on a reserved connection', async () => {
    const bun = fakeBun(text => text.startsWith('BEGIN') ? [[], [{ id: 1 }], []] : [{ one: 1 }])
    const db = fromBunSql(bun)
    assert.deepEqual(await db.executeSql('SELECT 1 AS one'), { rows: [{ one: 1 }] })
    // one array of rows per statement: flattened, so the RETURNING before COMMIT is kept
    assert.deepEqual(await db.executeSql('BEGIN; INSERT INTO t VALUES (1) RETURNING id; COMMIT'), { rows: [{ id: 1 }] })
    assert.deepEqual(bun.calls.map(c => [c.who, c.values]), [['pool', undefined], ['reserved', undefined]])
    assert.deepEqual(bun.reserved, ['reserved', 'released'])
  })

  test('a reserved connection is released when its script fails', async () => {
    const bun = fakeBun(() => { throw new Error('nope') })
    await assert.rejects(fromBunSql(bun).executeSql('BEGIN; SELECT 1; COMMIT'), /nope/)
    assert.deepEqual(bun.reserved, ['reserved', 'released'])
  })

  test("Bun's server errors get their SQLSTATE in code, where node-postgres puts it", async () => {
    const bun = fakeBun(() => { throw Object.assign(new Error('duplicate key'), { code: 'ERR_POSTGRES_SERVER_ERROR', errno: '23505' }) })
    await assert.rejects(fromBunSql(bun).executeSql('SELECT 1', [1]), err => err.code === '23505' && err.message === 'duplicate key')
  })

  test('listen is offered only when the client has it (Bun 1.4+)', async () => {
    assert.equal(fromBunSql(fakeBun()).listen, undefined)
    let unlistened = false
    const bun = { ...fakeBun(), async listen (channel, onNotification, onSubscribe) { onSubscribe(); onNotification('q'); return { unlisten () { unlistened = true } } } }
    const seen = []
    const handle = await fromBunSql(bun).listen('chan', p => seen.push(p), () => seen.push('subscribed'))
    assert.deepEqual(seen, ['subscribed', 'q'])
    await handle.close()
    assert.equal(unlistened, true)
  })
})

/** The `bun` binary the devDependency installed, if one runs here. */
function bunBinary () {
  const candidates = []
  try { candidates.push(require.resolve(`@oven/bun-${process.platform}-${process.arch}/bin/bun`)) } catch {}
  try { candidates.push(fileURLToPath(new URL('../node_modules/.bin/bun', import.meta.url))) } catch {}
  for (const path of candidates) {
    const run = spawnSync(path, ['--version'], { encoding: 'utf8' })
    if (run.status === 0) return path
  }
  return null
}

const bun = bunBinary()
const SCHEMA = 'pgbn_bun_test'

// Runs under Bun: a whole instance on Bun.SQL, then sends in Bun transactions. Prints one JSON line.
const script = `
import { SQL } from 'bun'
import { PgBoss, fromBunSql } from ${JSON.stringify(fileURLToPath(new URL('../index.mjs', import.meta.url)))}
const sql = new SQL(process.env.DATABASE_URL)
const boss = new PgBoss({ db: fromBunSql(sql), schema: ${JSON.stringify(SCHEMA)}, schedule: false })
const errors = []
boss.on('error', err => errors.push(err.message))
await boss.start()
await boss.createQueue('bun')
const id = await boss.send('bun', { runtime: 'bun' })
const worked = await new Promise(resolve => boss.work('bun', { pollingIntervalSeconds: 0.5 }, async ([job]) => { resolve(job.id); return { ok: true } }))
await new Promise(resolve => setTimeout(resolve, 300))
const state = (await boss.getJobById('bun', worked)).state
let rolledBack
try { await sql.begin(async tx => { rolledBack = await boss.send('bun', { n: 1 }, { db: fromBunSql(tx) }); throw new Error('roll back') }) } catch {}
const committed = await sql.begin(tx => boss.send('bun', { n: 2 }, { db: fromBunSql(tx) }))
const any = await fromBunSql(sql).executeSql('SELECT $1::uuid = ANY($2::uuid[]) AS found', [id, [id]])
let code
try { await boss.send('bun', {}, { db: fromBunSql(sql), id: 'not-a-uuid' }) } catch (err) { code = err.code }
const result = {
  version: Bun.version,
  sent: id, worked, state,
  rolledBack: !!rolledBack, rolledBackJob: await boss.getJobById('bun', rolledBack),
  committed: (await boss.getJobById('bun', committed))?.state,
  found: any.rows[0].found,
  code,
  errors
}
await boss.stop()
await sql.end()
console.log(JSON.stringify(result))
`

test('pg-boss-native under Bun, on Bun.SQL through fromBunSql', { skip: bun ? false : 'the bun binary does not run on this machine' }, async () => {
  await dropSchema(SCHEMA)
  try {
    const run = spawnSync(bun, ['-e', script], { encoding: 'utf8', env: { ...process.env, DATABASE_URL: connectionString }, timeout: 60000 })
    assert.equal(run.status, 0, `bun failed:\n${run.stdout}\n${run.stderr}`)
    const result = JSON.parse(run.stdout.trim().split('\n').pop())
    assert.equal(result.worked, result.sent)
    assert.equal(result.state, 'completed')
    assert.equal(result.rolledBack, true)
    assert.equal(result.rolledBackJob, null)
    assert.equal(result.committed, 'created')
    assert.equal(result.found, true)
    // the server's refusal of a bad uuid, with its SQLSTATE through errno → code
    assert.equal(result.code, '22P02')
    assert.deepEqual(result.errors, [])
  } finally {
    await dropSchema(SCHEMA)
  }
})
