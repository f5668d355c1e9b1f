import { test } from 'node:test'
import assert from 'node:assert/strict'
import EventEmitter from 'node:events'
import { createRequire } from 'node:module'
import DefaultExport, { PgBoss, states, policies, events, getConstructionPlans, getMigrationPlans, getRollbackPlans } from '../index.mjs'

const require = createRequire(import.meta.url)

test('ESM default and named exports are the same class', () => {
  assert.equal(DefaultExport, PgBoss)
  assert.ok(new PgBoss('postgres://localhost/x') instanceof EventEmitter)
})

test('CommonJS: the module is the class and carries the named exports', () => {
  const mod = require('../index.js')
  assert.equal(typeof mod, 'function')
  assert.equal(mod, PgBoss)
  assert.equal(mod.PgBoss, PgBoss)
  const { PgBoss: Named, states: s } = require('../index.js')
  assert.equal(Named, PgBoss)
  assert.equal(s, states)
})

// ESM cannot name its exports from a list made at run time, so index.mjs spells out the list
// index.js builds: this keeps the two from drifting apart.
test('the ESM entry names every export of the CommonJS entry, and the same objects', async () => {
  const esm = await import('../index.mjs')
  const cjs = require('../index.js')
  assert.deepEqual(Object.keys(esm).sort(), Object.keys(cjs).sort())
  for (const key of Object.keys(cjs)) assert.equal(esm[key], cjs[key], key)
})

test('constants match pg-boss', async () => {
  const reference = await import('pg-boss')
  assert.deepEqual({ ...states }, { ...reference.states })
  assert.deepEqual({ ...policies }, { ...reference.policies })
  assert.deepEqual({ ...events }, { ...reference.events })
  assert.ok(Object.isFrozen(states) && Object.isFrozen(policies) && Object.isFrozen(events))
})

test('plan functions are exported', () => {
  const sql = getConstructionPlans('my_schema')
  assert.match(sql, /CREATE SCHEMA IF NOT EXISTS my_schema/)
  assert.match(sql, /INSERT INTO my_schema\.version/)
  assert.equal(typeof getMigrationPlans, 'function')
  assert.equal(typeof getRollbackPlans, 'function')
})
