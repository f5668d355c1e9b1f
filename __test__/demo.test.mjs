// npm run demo picks its database (examples/demo-database.mjs): DATABASE_URL as given, else the
// local server, else a throwaway PostgreSQL it starts and removes. Each case runs the real demo.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { connectionString } from './helpers.mjs'
import { freePort, unreachable } from './support/pg-server.mjs'

const demo = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'demo.mjs')

function runDemo (env) {
  const { DATABASE_URL, PGBN_DEMO_LOCAL_URL, ...rest } = process.env
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [demo], { env: { ...rest, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', chunk => { output += chunk })
    child.stderr.on('data', chunk => { output += chunk })
    child.on('error', reject)
    child.on('close', code => resolve({ code, output }))
  })
}

function assertDemoRan (output) {
  assert.match(output, /queued 12 invoices/)
  assert.match(output, /linus {5}failed {5}retries=0 {2}UnrecoverableError: no billing address for linus/)
  assert.match(output, /grace {5}completed {2}retries=1 {2}INV-GRACE-107 \(attempt 2\)/)
  assert.match(output, /dead letter queue: linus \(from invoices\)/)
}

test('with no DATABASE_URL and no local server, the demo starts a throwaway PostgreSQL, says so, and removes it', { timeout: 120_000 }, async () => {
  const nothingThere = `postgres://localhost:${await freePort()}`
  const { code, output } = await runDemo({ PGBN_DEMO_LOCAL_URL: nothingThere })
  assert.equal(code, 0, output)
  assert.match(output, /no DATABASE_URL, and nothing answers at postgres:\/\/(\w+@)?localhost:\d+ \(.*ECONNREFUSED.*\): starting a throwaway PostgreSQL/)
  const [, dir, port] = output.match(/database: a throwaway PostgreSQL \(initdb\/pg_ctl in (\S+), port (\d+)\)/) ?? []
  assert.ok(dir && port, output)
  assertDemoRan(output)
  assert.match(output, new RegExp(`stopped the throwaway PostgreSQL on port ${port} and removed ${dir}`))
  assert.equal(existsSync(dir), false, 'its directory is gone')
  assert.ok(await unreachable(`postgres://postgres@localhost:${port}/postgres`, { timeoutMs: 1000 }), 'the server is stopped')
})

test('with no DATABASE_URL, the demo uses the local server when it answers', { timeout: 60_000 }, async () => {
  const { code, output } = await runDemo({ PGBN_DEMO_LOCAL_URL: connectionString })
  assert.equal(code, 0, output)
  assert.match(output, /database: the local server at postgres:\/\//)
  assert.doesNotMatch(output, /throwaway/)
  assertDemoRan(output)
})

test('a DATABASE_URL that does not answer fails the demo rather than being replaced', { timeout: 60_000 }, async () => {
  const { code, output } = await runDemo({ DATABASE_URL: `postgres://localhost:${await freePort()}/x`, PGBN_DEMO_LOCAL_URL: connectionString })
  assert.notEqual(code, 0, output)
  assert.match(output, /database: DATABASE_URL \(postgres:\/\/localhost:\d+\/x\)/)
  assert.doesNotMatch(output, /throwaway|local server/)
})

test('PGBN_DEMO_DATABASE=pglite runs the demo on an in-process PGlite, with no server, and says so', { timeout: 120_000 }, async () => {
  const nothingThere = `postgres://localhost:${await freePort()}`
  const { code, output } = await runDemo({ PGBN_DEMO_DATABASE: 'pglite', PGBN_DEMO_LOCAL_URL: nothingThere })
  assert.equal(code, 0, output)
  assert.match(output, /database: an in-process PGlite \(backend: 'pglite', fromPglite\)/)
  assert.doesNotMatch(output, /throwaway/)
  assertDemoRan(output)
})
