import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AssertionError } from 'node:assert'
import { PgBoss } from '../index.mjs'

function rejects (options, message) {
  assert.throws(() => new PgBoss(options), err => {
    assert.ok(err instanceof AssertionError, `expected AssertionError, got ${err}`)
    assert.equal(err.code, 'ERR_ASSERTION')
    assert.equal(err.message, message)
    return true
  })
}

test('a string or an options object is required', () => {
  rejects(undefined, 'configuration assert: string or config object is required to connect to postgres')
  rejects(5, 'configuration assert: string or config object is required to connect to postgres')
})

test('interval options are validated with pg-boss messages', () => {
  rejects({ superviseIntervalSeconds: 0.5 }, 'configuration assert: superviseIntervalSeconds must be at least every second')
  rejects({ monitorIntervalSeconds: 90000 }, 'configuration assert: monitorIntervalSeconds cannot exceed 24 hours')
  rejects({ clockMonitorIntervalSeconds: 700 }, 'configuration assert: clockMonitorIntervalSeconds must be between 1 second and 10 minutes')
  rejects({ cronWorkerIntervalSeconds: 0 }, 'configuration assert: cronWorkerIntervalSeconds must be between 1 and 45 seconds')
  rejects({ bamIntervalSeconds: 9 }, 'configuration assert: bamIntervalSeconds must be at least 10 seconds')
  rejects({ flowIntervalSeconds: 0.5 }, 'configuration assert: flowIntervalSeconds must be at least 1 seconds')
  rejects({ warningQueueSize: 0 }, 'configuration assert: warningQueueSize must be at least 1')
  rejects({ backend: 'mysql' }, 'configuration assert: backend must be one of postgres, cockroachdb, yugabytedb, citus, pglite')
})

test('schema names are validated before any SQL is built', () => {
  rejects({ schema: 'my-schema' }, 'Schema name "my-schema" can only contain alphanumeric characters or underscores when unquoted. Pass it quoted to use it verbatim: schema: \'"my-schema"\'')
  rejects({ schema: '1abc' }, 'Schema name "1abc" cannot start with a number when unquoted. Pass it quoted to use it verbatim: schema: \'"1abc"\'')
  rejects({ schema: '"a.b"' }, 'Quoted name cannot contain periods')
  rejects({ schema: 'x'.repeat(51) }, 'Name cannot exceed 50 bytes')
})

test('messages equal pg-boss 12.38 for the same input', async () => {
  const { PgBoss: Reference } = await import('pg-boss')
  for (const options of [{ schema: 'a-b' }, { schema: '"a$b"' }, { maintenanceIntervalSeconds: 0 }, { queueStatRetentionDays: 400 }]) {
    let expected
    try { new Reference(options) } catch (err) { expected = err.message } // eslint-disable-line no-new
    let actual
    try { new PgBoss(options) } catch (err) { actual = err.message } // eslint-disable-line no-new
    assert.equal(actual, expected, JSON.stringify(options))
  }
})
