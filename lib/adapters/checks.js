'use strict'
// An adapter given the wrong object fails when it is made, saying what it needed, rather than at
// its first statement inside pg-boss.

const { AssertionError } = require('node:assert')

function requireMethods (adapter, what, value, methods) {
  const missing = value && (typeof value === 'object' || typeof value === 'function')
    ? methods.filter(m => typeof value[m] !== 'function')
    : methods
  if (missing.length) {
    throw new AssertionError({
      message: `${adapter}() expects ${what} (an object with ${methods.map(m => `${m}()`).join(' and ')}); ${value == null ? `got ${value}` : `${missing.map(m => `${m}()`).join(' and ')} missing`}`,
      actual: false,
      expected: true,
      operator: '=='
    })
  }
}

module.exports = { requireMethods }
