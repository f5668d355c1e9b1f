// The adapters' argument shapes against the real ORM types (knex, Kysely, drizzle-orm, PGlite),
// and their use as a `db`, as a TypeScript user writes it. Type-checked only (noEmit); never run.
// (Prisma's client types exist only once `prisma generate` has run, so they are not checked here.)

import { PgBoss, fromKnex, fromKysely, fromDrizzle, fromPrisma, fromPglite, fromBunSql } from 'pg-boss-native'
import type {
  Db, IDatabase, KnexTransactionLike, KyselyTransactionLike, DrizzleTransactionLike, DrizzleSqlTagLike,
  PGliteLike, PrismaTransactionLike, BunSqlLike
} from 'pg-boss-native'
import type { Knex } from 'knex'
import type { Transaction as KyselyTransaction } from 'kysely'
import type { NodePgDatabase } from 'drizzle-orm/node-postgres'
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import type { sql as drizzleSql } from 'drizzle-orm'
import type { PGlite } from '@electric-sql/pglite'

type Check<T extends true> = T
type Assignable<From, To> = [From] extends [To] ? true : false

export type Shapes = [
  Check<Assignable<Knex.Transaction, KnexTransactionLike>>,
  Check<Assignable<Knex, KnexTransactionLike>>,
  Check<Assignable<KyselyTransaction<any>, KyselyTransactionLike>>,
  Check<Assignable<NodePgDatabase, DrizzleTransactionLike>>,
  Check<Assignable<PostgresJsDatabase, DrizzleTransactionLike>>,
  Check<Assignable<typeof drizzleSql, DrizzleSqlTagLike>>,
  Check<Assignable<PGlite, PGliteLike>>,
  Check<Assignable<ReturnType<typeof fromKnex>, IDatabase>>,
  Check<Assignable<ReturnType<typeof fromKysely>, Db>>,
  Check<Assignable<ReturnType<typeof fromDrizzle>, IDatabase>>,
  Check<Assignable<ReturnType<typeof fromPrisma>, IDatabase>>,
  Check<Assignable<ReturnType<typeof fromPglite>, IDatabase>>,
  Check<Assignable<ReturnType<typeof fromBunSql>, IDatabase>>
]

export async function sendInTransaction (boss: PgBoss, knex: Knex, pglite: PGlite, sql: typeof drizzleSql, drizzle: NodePgDatabase, prisma: PrismaTransactionLike, bun: BunSqlLike): Promise<void> {
  await knex.transaction(async (trx) => {
    await boss.send('email', { to: 'ada@example.com' }, { db: fromKnex(trx) })
  })
  await drizzle.transaction(async (tx) => {
    await boss.insert('email', [{ data: {} }], { db: fromDrizzle(tx, sql) })
  })
  await boss.complete('email', 'id', null, { db: fromPrisma(prisma) })
  const embedded = new PgBoss({ backend: 'pglite', db: fromPglite(pglite) })
  const onBun = new PgBoss({ db: fromBunSql(bun) })
  await Promise.all([embedded.start(), onBun.start()])
  // @ts-expect-error fromDrizzle needs drizzle-orm's sql tag as well
  fromDrizzle(drizzle)
  // @ts-expect-error fromKnex takes a knex transaction, not a connection string
  fromKnex('postgres://localhost/db')
}
