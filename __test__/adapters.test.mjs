// The ORM adapters (fromKnex, fromKysely, fromDrizzle, fromPrisma) against the real database:
// pg-boss-native's SQL runs inside the ORM's own transaction, so a commit keeps the job with the
// application's write and a rollback leaves neither; and pg-boss 12.38's placeholder handling
// (repeated and out-of-order `$n`, a literal `?` under knex, array parameters, parameterless
// multi-statement text).
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import knex from 'knex'
import { Kysely, PostgresDialect } from 'kysely'
import { drizzle } from 'drizzle-orm/node-postgres'
import { drizzle as drizzlePostgresJs } from 'drizzle-orm/postgres-js'
import { sql as drizzleSql } from 'drizzle-orm'
import postgres from 'postgres'
import PgBossDefault, { fromKnex, fromKysely, fromDrizzle, fromPrisma, fromPglite, fromBunSql } from '../index.mjs'
import { connectionString, dropSchema, pg, startBoss } from './helpers.mjs'

const require = createRequire(import.meta.url)
const SCHEMA = 'pgbn_adapters_test'
const QUEUE = 'orm'
const ID = 'd1e48017-d11b-4434-a745-90ee6453caef'
const OTHER_ID = 'a745d11b-d11b-4434-a745-90ee6453caef'

let boss, check

before(async () => {
  await dropSchema(SCHEMA)
  boss = await startBoss(SCHEMA)
  await boss.createQueue(QUEUE)
  check = new pg.Pool({ connectionString, max: 2 })
  await check.query(`CREATE TABLE ${SCHEMA}.orders (id serial PRIMARY KEY, item text NOT NULL)`)
})
after(async () => {
  await boss?.stop()
  await check?.end()
  await dropSchema(SCHEMA)
})

async function jobExists (id) {
  const { rows } = await check.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.job WHERE id = $1`, [id])
  return rows[0].n === 1
}

async function orderExists (item) {
  const { rows } = await check.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.orders WHERE item = $1`, [item])
  return rows[0].n === 1
}

/**
 * The checks every ORM gets. `transaction(work)` runs `work(db, write)` in one ORM transaction
 * that commits when it resolves and rolls back when it throws; `db` is the adapter over it and
 * `write(item)` the application's own insert through the ORM.
 */
function ormChecks (name, { transaction, adapter, multiStatement = true, literalQuestionMark = true }) {
  test(`${name}: a send in a transaction that commits is there, with the application's write`, async () => {
    const item = `${name}-commit`
    const id = await transaction(async (db, write) => {
      await write(item)
      const id = await boss.send(QUEUE, { item }, { db })
      // not visible outside the transaction before it commits
      assert.equal(await jobExists(id), false)
      return id
    })
    assert.ok(id)
    assert.equal(await jobExists(id), true)
    assert.equal(await orderExists(item), true)
    assert.deepEqual((await boss.getJobById(QUEUE, id)).data, { item })
  })

  test(`${name}: a send in a transaction that rolls back leaves no job`, async () => {
    const item = `${name}-rollback`
    let id
    await assert.rejects(transaction(async (db, write) => {
      await write(item)
      id = await boss.send(QUEUE, { item }, { db })
      assert.ok(id)
      throw new Error('rolled back on purpose')
    }), /rolled back on purpose/)
    assert.equal(await jobExists(id), false)
    assert.equal(await orderExists(item), false)
    assert.equal(await boss.getJobById(QUEUE, id), null)
  })

  test(`${name}: insert, update, fetch and complete inside one transaction`, async () => {
    const queue = `${QUEUE}-${name.replace(/\W/g, '-')}`
    await boss.createQueue(queue)
    const ids = await transaction(async (db) => {
      const ids = await boss.insert(queue, [{ data: { n: 1 } }, { data: { n: 2 } }], { db, returnId: true })
      // update's SQL mixes literal jsonb `?` operators with its placeholders in pg-boss
      const updated = await boss.update(queue, { n: 3 }, { id: ids[1], db })
      assert.equal(updated.updated, 1)
      const jobs = await boss.fetch(queue, { db, batchSize: 10 })
      assert.deepEqual(jobs.map(job => job.id).sort(), [...ids].sort())
      const done = await boss.complete(queue, ids[0], { ok: true }, { db })
      assert.equal(done.affected, 1)
      return ids
    })
    assert.equal((await boss.getJobById(queue, ids[0])).state, 'completed')
    const second = await boss.getJobById(queue, ids[1])
    assert.equal(second.state, 'active')
    assert.deepEqual(second.data, { n: 3 })
    await boss.complete(queue, ids[1])
  })

  test(`${name}: repeated and out-of-order placeholders`, async () => {
    const { rows } = await transaction(db => db.executeSql('SELECT $2::int AS a, $1::int AS b, $2::int AS c, $1::text || $2::text AS d', [10, 20]))
    assert.deepEqual(rows, [{ a: 20, b: 10, c: 20, d: '1020' }])
  })

  test(`${name}: a $n inside a string, a quoted name or a comment is not a placeholder`, async () => {
    const { rows } = await transaction(db => db.executeSql(`SELECT '$1 costs $2' AS "price $1", $1::int AS n -- $2 is not bound\n`, [5]))
    assert.deepEqual(rows, [{ 'price $1': '$1 costs $2', n: 5 }])
  })

  test(`${name}: array parameters bound to ANY($n::uuid[])`, async () => {
    const { rows } = await transaction(db => db.executeSql(
      'SELECT $1::uuid = ANY($2::uuid[]) AS single, $1::uuid = ANY($3::uuid[]) AS multi, $1::uuid = ANY($4::uuid[]) AS none, cardinality($3::uuid[]) AS n',
      [ID, [ID], [OTHER_ID, ID], []]))
    assert.deepEqual(rows, [{ single: true, multi: true, none: false, n: 2 }])
  })

  test(`${name}: a JSON array parameter stays a JSON array`, async () => {
    const { rows } = await transaction(db => db.executeSql('SELECT $1::jsonb AS doc', [JSON.stringify([1, 2])]))
    assert.deepEqual(rows, [{ doc: [1, 2] }])
  })

  if (literalQuestionMark) {
    test(`${name}: a literal ? (jsonb key-exists) beside placeholders`, async () => {
      const { rows } = await transaction(db => db.executeSql(`SELECT '{"a":1}'::jsonb ? $1 AS has, '{"a":1}'::jsonb ?| array['b'] AS any, $2::int AS n`, ['a', 3]))
      assert.deepEqual(rows, [{ has: true, any: false, n: 3 }])
    })
  }

  if (multiStatement) {
    test(`${name}: parameterless multi-statement text returns every statement's rows`, async () => {
      const { rows } = await transaction(db => db.executeSql("SELECT 1 AS select1; SELECT 2 AS select2; SELECT '?' AS mark"))
      assert.deepEqual(rows, [{ select1: 1 }, { select2: 2 }, { mark: '?' }])
    })
  }

  test(`${name}: a statement the database refuses fails the call with its SQLSTATE`, async () => {
    let id
    await assert.rejects(transaction(async (db) => {
      await db.executeSql('SET TRANSACTION READ ONLY')
      id = await boss.send(QUEUE, { refused: true }, { db })
    }), err => err.code === '25006' && /read-only transaction/.test(err.message))
    assert.equal(id, undefined)
  })
}

describe('knex', () => {
  const db = knex({ client: 'pg', connection: connectionString, pool: { min: 0, max: 2 } })
  after(() => db.destroy())
  ormChecks('knex', {
    transaction: work => db.transaction(trx => work(fromKnex(trx), item => trx(`${SCHEMA}.orders`).insert({ item })))
  })
  test('knex: the knex instance itself (no transaction) runs statements too', async () => {
    const { rows } = await fromKnex(db).executeSql('SELECT $1::text AS a, $1::text AS b', ['x'])
    assert.deepEqual(rows, [{ a: 'x', b: 'x' }])
  })
})

describe('kysely', () => {
  const pool = new pg.Pool({ connectionString, max: 2 })
  const db = new Kysely({ dialect: new PostgresDialect({ pool }) })
  after(() => db.destroy())
  ormChecks('kysely', {
    transaction: work => db.transaction().execute(trx => work(fromKysely(trx), item => trx.withSchema(SCHEMA).insertInto('orders').values({ item }).execute())),
    // Kysely's pg driver keeps the rows of a single result only
    multiStatement: false
  })
})

describe('drizzle (node-postgres)', () => {
  const pool = new pg.Pool({ connectionString, max: 2 })
  const db = drizzle({ client: pool })
  after(() => pool.end())
  ormChecks('drizzle/pg', {
    transaction: work => db.transaction(tx => work(fromDrizzle(tx, drizzleSql), item => tx.execute(drizzleSql`INSERT INTO ${drizzleSql.raw(SCHEMA)}.orders (item) VALUES (${item})`)))
  })
})

describe('drizzle (postgres-js)', () => {
  const client = postgres(connectionString, { max: 2, onnotice: () => {} })
  const db = drizzlePostgresJs({ client })
  after(() => client.end())
  ormChecks('drizzle/postgres-js', {
    transaction: work => db.transaction(tx => work(fromDrizzle(tx, drizzleSql), item => tx.execute(drizzleSql`INSERT INTO ${drizzleSql.raw(SCHEMA)}.orders (item) VALUES (${item})`))),
    // postgres-js sends a statement with the extended protocol, which takes one statement
    multiStatement: false
  })
  test('drizzle/postgres-js: an empty result is an empty rows array', async () => {
    const { rows } = await db.transaction(tx => fromDrizzle(tx, drizzleSql).executeSql('SELECT 1 AS val WHERE false'))
    assert.deepEqual(rows, [])
  })
})

describe('prisma', () => {
  // Prisma 7 with @prisma/adapter-pg: the client is generated from a schema with no models. The
  // CLI downloads its schema engine at start, which `generate` does not use: pointing
  // PRISMA_SCHEMA_ENGINE_BINARY at a stand-in lets it generate offline.
  const here = fileURLToPath(new URL('.', import.meta.url))
  let prisma, pool
  before(async () => {
    const cli = require.resolve('prisma/build/index.js')
    const generated = spawnSync(process.execPath, [cli, 'generate', `--schema=${here}support/prisma/schema.prisma`], {
      encoding: 'utf8',
      env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || '/bin/true', CHECKPOINT_DISABLE: '1', PRISMA_HIDE_UPDATE_MESSAGE: '1' }
    })
    assert.equal(generated.status, 0, `prisma generate failed:\n${generated.stdout}${generated.stderr}`)
    const { PrismaClient } = require('@prisma/client')
    const { PrismaPg } = require('@prisma/adapter-pg')
    pool = new pg.Pool({ connectionString, max: 2 })
    prisma = new PrismaClient({ adapter: new PrismaPg(pool) })
  })
  after(async () => {
    await prisma?.$disconnect()
    await pool?.end()
  })
  ormChecks('prisma', {
    transaction: work => prisma.$transaction(tx => work(fromPrisma(tx), item => tx.$executeRawUnsafe(`INSERT INTO ${SCHEMA}.orders (item) VALUES ($1)`, item))),
    // $queryRawUnsafe prepares its statement, which takes one statement
    multiStatement: false
  })
})

describe('exports and argument checks', () => {
  test('the adapters are exported as pg-boss 12.38 exports them, from ESM and CommonJS', async () => {
    const reference = await import('pg-boss')
    const cjs = require('../index.js')
    for (const name of ['fromKnex', 'fromKysely', 'fromDrizzle', 'fromPrisma', 'fromPglite', 'fromBunSql']) {
      assert.equal(typeof reference[name], 'function', `pg-boss exports ${name}`)
      assert.equal(typeof cjs[name], 'function', `require('pg-boss-native').${name}`)
      assert.equal(cjs[name], PgBossDefault[name])
      assert.equal(reference[name].length, cjs[name].length, `${name} takes as many arguments as pg-boss's`)
    }
    assert.equal(cjs.fromKnex, fromKnex)
    assert.equal(cjs.fromBunSql, fromBunSql)
  })

  test('an adapter given the wrong object says what it needed', () => {
    assert.throws(() => fromKnex({}), /fromKnex\(\) expects a knex transaction .*raw\(\) missing/)
    assert.throws(() => fromKysely(undefined), /fromKysely\(\) expects a Kysely transaction .*got undefined/)
    assert.throws(() => fromDrizzle({ execute () {} }), /fromDrizzle\(\) expects drizzle-orm's sql tag/)
    assert.throws(() => fromPrisma({ $queryRaw () {} }), /\$queryRawUnsafe\(\) missing/)
    assert.throws(() => fromPglite({ query () {} }), /exec\(\) missing/)
    assert.throws(() => fromBunSql({ unsafe () {} }), /reserve\(\) missing/)
  })

  test('the placeholder scan passes over strings, quoted names, dollar quotes, comments and identifiers', async () => {
    const seen = []
    const db = fromKnex({ raw: async (text, values) => { seen.push([text, values]); return { rows: [] } } })
    const text = [
      "SELECT $2, E'it\\'s $1', 'a''$1', \"col\"\"$1\", a$1, $body$ $1 $body$,",
      '/* outer /* nested $1 */ still $1 */ $1 -- $2',
      '$3'
    ].join('\n')
    await db.executeSql(text, ['one', 'two', 'three'])
    assert.deepEqual(seen, [[
      [
        "SELECT ?, E'it\\'s $1', 'a''$1', \"col\"\"$1\", a$1, $body$ $1 $body$,",
        '/* outer /* nested $1 */ still $1 */ ? -- $2',
        '?'
      ].join('\n'),
      ['two', 'one', 'three']
    ]])
  })

  test('a placeholder with no value is refused before the ORM sees it', async () => {
    const seen = []
    const db = fromKnex({ raw: async (text, values) => { seen.push(text); return { rows: [] } } })
    await assert.rejects(db.executeSql('SELECT $1::int, $3::int', [1, 2]), /refers to \$3 but 2 values were given/)
    assert.deepEqual(seen, [])
  })
})
