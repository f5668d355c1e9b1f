// index.d.ts: typed pg-boss code compiles against pg-boss-native, wrong usage is rejected, and the
// types match pg-boss 12.38's (see __test__/types/). Needs no database.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const tsc = require.resolve('typescript/bin/tsc')

function compile (project) {
  const result = spawnSync(process.execPath, [tsc, '-p', project, '--pretty', 'false'], { cwd: root, encoding: 'utf8' })
  const output = `${result.stdout}${result.stderr}`.trim()
  assert.equal(result.status, 0, `tsc -p ${project} failed:\n${output}`)
}

test('typed usage and pg-boss 12.38 compatibility type-check (tsc -p __test__/types)', () => {
  compile(join('__test__', 'types'))
})

test('index.d.ts and types/ type-check themselves (skipLibCheck off)', () => {
  compile(join('__test__', 'types', 'tsconfig.declarations.json'))
})
