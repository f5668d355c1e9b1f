// The database `npm run demo` uses, and how it says which:
//   1. DATABASE_URL, when set (used as given: if it does not answer, the demo fails, saying so);
//   2. else the local server, postgres://localhost:5432 as the OS user (PGBN_DEMO_LOCAL_URL names
//      another, which is how __test__/demo.test.mjs makes it find none);
//   3. else a throwaway PostgreSQL started with the machine's initdb/pg_ctl in a temp directory
//      (__test__/support/pg-server.mjs), stopped and removed when the demo ends;
//   4. else (no initdb either) an in-process PGlite: the whole instance on `backend: 'pglite'`
//      through `fromPglite`, no server at all.
// PGBN_DEMO_DATABASE=pglite picks 4 straight away.
import { userInfo } from 'node:os'
import { startServer, unreachable } from '../__test__/support/pg-server.mjs'
import { fromPglite } from '../index.mjs'

/** Without a user name node-postgres sends none (libpq would send the OS user): name it. */
function withUser (url) {
  const parsed = new URL(url)
  if (!parsed.username && !process.env.PGUSER && !process.env.USER) parsed.username = userInfo().username
  return parsed.toString()
}

const redact = url => url.replace(/:[^:@/]*@/, ':***@')

/** `{ options, description, stop() }`: constructor options for PgBoss and what to say about them. */
/** PGlite in this process (a devDependency: the demo runs from a clone). */
async function embedded (why) {
  const { PGlite } = await import('@electric-sql/pglite')
  const pglite = new PGlite()
  return {
    options: { backend: 'pglite', db: fromPglite(pglite) },
    description: `an in-process PGlite (backend: 'pglite', fromPglite)${why ? `: ${why}` : ''}`,
    stop: async () => { await pglite.close() }
  }
}

export async function demoDatabase (env = process.env) {
  if (env.PGBN_DEMO_DATABASE === 'pglite') return embedded('PGBN_DEMO_DATABASE=pglite')
  if (env.DATABASE_URL) {
    const url = env.DATABASE_URL
    return { options: { connectionString: url }, description: `DATABASE_URL (${redact(url)})`, stop: async () => {} }
  }
  const local = withUser(env.PGBN_DEMO_LOCAL_URL || 'postgres://localhost:5432')
  const why = await unreachable(local)
  if (!why) {
    return { options: { connectionString: local }, description: `the local server at ${redact(local)}`, stop: async () => {} }
  }
  console.log(`no DATABASE_URL, and nothing answers at ${redact(local)} (${why}): starting a throwaway PostgreSQL`)
  let server
  try {
    server = await startServer()
  } catch (err) {
    // no server to be had: the embedded engine
    return embedded(`starting a throwaway PostgreSQL failed (${err.message})`)
  }
  return {
    options: { connectionString: server.url() },
    description: `a throwaway PostgreSQL (initdb/pg_ctl in ${server.dir}, port ${server.port})`,
    throwaway: true,
    stop: async () => {
      await server.stop()
      console.log(`stopped the throwaway PostgreSQL on port ${server.port} and removed ${server.dir}`)
    }
  }
}
