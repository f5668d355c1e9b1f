// The database `npm run demo` uses, and how it says which:
//   1. DATABASE_URL, when set (used as given: if it does not answer, the demo fails, saying so);
//   2. else the local server, postgres://localhost:5432 as the OS user (PGBN_DEMO_LOCAL_URL names
//      another, which is how __test__/demo.test.mjs makes it find none);
//   3. else a throwaway PostgreSQL started with the machine's initdb/pg_ctl in a temp directory
//      (__test__/support/pg-server.mjs), stopped and removed when the demo ends.
// Step 3 is where an embedded engine goes: once pg-boss-native has `backend: 'pglite'` (being
// built), a machine without initdb can get `{ options: { backend: 'pglite', ... } }` from here
// instead of failing; the demo passes `options` to the constructor whatever they are.
import { userInfo } from 'node:os'
import { startServer, unreachable } from '../__test__/support/pg-server.mjs'

/** Without a user name node-postgres sends none (libpq would send the OS user): name it. */
function withUser (url) {
  const parsed = new URL(url)
  if (!parsed.username && !process.env.PGUSER && !process.env.USER) parsed.username = userInfo().username
  return parsed.toString()
}

const redact = url => url.replace(/:[^:@/]*@/, ':***@')

/** `{ options, description, stop() }`: constructor options for PgBoss and what to say about them. */
export async function demoDatabase (env = process.env) {
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
    throw new Error(`the demo needs a PostgreSQL: set DATABASE_URL, start one at ${redact(local)}, or install PostgreSQL ` +
      `(initdb, pg_ctl) so the demo can start its own. Starting one failed: ${err.message}`)
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
