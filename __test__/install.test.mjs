// Installing without Rust: `npm pack` the main package (a copy of this clone) and this machine's
// platform package (made from the addon built in this clone), install both from the tarballs into a scratch app whose
// PATH holds only node, npm and a few coreutils (no cargo, no rustc, no C compiler), with npm's
// defaults, then run a README example against DATABASE_URL and type-check a typed one with tsc.
//
// Needs the registry (or npm's cache) for the main package's dependencies and for typescript and
// @types/node in the scratch app; about 20-60 s.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { releaseTargets } from '../scripts/targets.mjs'
import { connectionString as databaseUrl, pg } from './helpers.mjs'

const require = createRequire(import.meta.url)
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { targetName, nativeFileName } = require('../lib/platform.js')
const main = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const target = releaseTargets(main).find(t => t.target === targetName())
const builtBinary = join(root, nativeFileName())

// what npm 11 prints for a package that would run an install script
const INSTALL_SCRIPT_WARNING = /install[- ]scripts?/i
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepare']
const SCHEMA = 'pgbn_install_test'

const skip = !target
  ? `no release target for ${targetName()}`
  : !existsSync(builtBinary) ? `no local build (${nativeFileName()}); run npm run build` : false

const work = mkdtempSync(join(tmpdir(), 'pgbn-install-'))
after(() => rmSync(work, { recursive: true, force: true }))

function locate (command) {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' })
  return found.status === 0 ? realpathSync(found.stdout.trim()) : null
}

/** A bin directory with node (the one running this test), npm and the coreutils npm may call. */
function strippedBin () {
  const bin = join(work, 'bin')
  mkdirSync(bin)
  symlinkSync(process.execPath, join(bin, 'node'))
  const npmCli = process.env.npm_execpath && process.env.npm_execpath.endsWith('npm-cli.js')
    ? process.env.npm_execpath
    : locate('npm')
  assert.ok(npmCli, 'npm is on PATH')
  symlinkSync(npmCli, join(bin, 'npm'))
  for (const tool of ['sh', 'env', 'cat', 'ls', 'mkdir', 'rm', 'cp', 'mv', 'chmod', 'ln', 'uname', 'tar', 'gzip']) {
    const path = locate(tool)
    if (path) symlinkSync(path, join(bin, tool))
  }
  return bin
}

let env = null
/**
 * npm's defaults: no user npmrc and no npm_config_* from a parent npm. The machine's global npmrc
 * stays (it may hold the CA of a proxy between here and the registry): npm looks for it beside
 * the node it runs on, which for Node 22 and 24 here is not the machine's node, so it is named.
 */
function cleanEnv () {
  if (env) return env
  const userconfig = join(work, 'empty-npmrc')
  writeFileSync(userconfig, '')
  const globalconfig = spawnSync('npm', ['config', 'get', 'globalconfig'], { encoding: 'utf8' }).stdout?.trim()
  env = {
    PATH: strippedBin(),
    HOME: process.env.HOME ?? work,
    TMPDIR: tmpdir(),
    npm_config_userconfig: userconfig,
    ...(globalconfig && existsSync(globalconfig) && { npm_config_globalconfig: globalconfig })
  }
  return env
}

function run (cmd, args, { cwd, extraEnv = {} } = {}) {
  const result = spawnSync(cmd, args, { cwd, env: { ...cleanEnv(), ...extraEnv }, encoding: 'utf8', timeout: 150_000 })
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`
  assert.equal(result.status, 0, `${cmd} ${args.join(' ')} failed (${result.error?.message ?? result.status}):\n${output}`)
  return { stdout: result.stdout, output }
}

/** npm pack in `dir`; the tarball's path and npm's file list. */
function pack (dir) {
  const { stdout, output } = run(join(cleanEnv().PATH, 'npm'), ['pack', '--json', '--pack-destination', work], { cwd: dir })
  const [info] = JSON.parse(stdout)
  return { tarball: join(work, info.filename), files: info.files.map(f => f.path), output }
}

function scratchApp (name) {
  const dir = join(work, name)
  mkdirSync(dir)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }, null, 2))
  return dir
}

function installedVersion (pkg) {
  return JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version
}

test('the scratch PATH has node and npm but no Rust toolchain', { skip }, () => {
  const which = command => spawnSync('sh', ['-c', `command -v ${command}`], { env: cleanEnv(), encoding: 'utf8' }).stdout.trim()
  assert.equal(which('node'), join(cleanEnv().PATH, 'node'))
  assert.equal(which('npm'), join(cleanEnv().PATH, 'npm'))
  for (const missing of ['cargo', 'rustc', 'rustup', 'cc', 'gcc']) assert.equal(which(missing), '', `${missing} is not on the scratch PATH`)
})

test('npm on this machine reports a package with an install script (so the check below can fail)', { skip }, () => {
  const dummy = join(work, 'dummy')
  mkdirSync(dummy)
  writeFileSync(join(dummy, 'package.json'), JSON.stringify({ name: 'pgbn-dummy-with-install-script', version: '1.0.0', scripts: { postinstall: 'node -e 0' } }))
  const { tarball } = pack(dummy)
  const app = scratchApp('control-app')
  const { output } = run(join(cleanEnv().PATH, 'npm'), ['install', tarball], { cwd: app })
  assert.match(output, INSTALL_SCRIPT_WARNING, `npm ${run('npm', ['--version']).stdout.trim()} printed no install-script warning:\n${output}`)
})

let mainTarball = null
test('npm pack: the main package carries the JavaScript, the types, README and LICENSE, no binary and no install script', { skip }, () => {
  // a copy of the clone (all but node_modules, target and .git), so that the package.json npm
  // rewrites while packing is never the one other test files read meanwhile
  const clone = join(work, 'clone')
  cpSync(root, clone, { recursive: true, filter: path => !['node_modules', 'target', '.git'].includes(basename(path)) })
  const before = readFileSync(join(clone, 'package.json'), 'utf8')
  const { tarball, files } = pack(clone)
  mainTarball = tarball
  assert.equal(readFileSync(join(clone, 'package.json'), 'utf8'), before, "the clone's package.json is as it was")
  assert.equal(existsSync(join(clone, '.package.json.unpacked')), false)
  for (const file of ['index.js', 'index.mjs', 'index.d.ts', 'lib/loader.js', 'lib/native.js', 'lib/adapters/index.js', 'lib/cli/main.js', 'bin/pg-boss-native.js', 'types/config.d.ts', 'README.md', 'LICENSE', 'package.json']) {
    assert.ok(files.includes(file), `${file} is packed: ${files.join(' ')}`)
  }
  const unexpected = files.filter(f => !/^(index\.(js|mjs|d\.ts)|lib\/([\w-]+\/)*[\w-]+\.js|bin\/pg-boss-native\.js|types\/[\w-]+\.d\.ts|README\.md|LICENSE|package\.json)$/.test(f))
  assert.deepEqual(unexpected, [], 'nothing else (no .node, src/, target/, npm/, scripts/)')

  const app = scratchApp('unpack')
  run('tar', ['xzf', tarball, '-C', app])
  const packed = JSON.parse(readFileSync(join(app, 'package', 'package.json'), 'utf8'))
  assert.deepEqual(INSTALL_SCRIPTS.filter(s => packed.scripts?.[s]), [], 'no script npm runs when installing a dependency')
  assert.equal(packed.scripts, undefined, 'no scripts at all: they are the clone\'s')
  assert.equal(existsSync(join(app, 'package', 'binding.gyp')), false)
  for (const t of releaseTargets(main)) assert.equal(packed.optionalDependencies[t.packageName], main.version)
})

let platformTarball = null
test(`npm pack: ${target?.packageName ?? 'the platform package'} carries the addon built here and nothing else`, { skip }, () => {
  const stage = join(work, 'stage', target.target)
  mkdirSync(stage, { recursive: true })
  for (const file of ['package.json', 'README.md']) copyFileSync(join(root, target.dir, file), join(stage, file))
  copyFileSync(builtBinary, join(stage, target.binary))
  const { tarball, files } = pack(stage)
  platformTarball = tarball
  assert.deepEqual(files.sort(), ['README.md', 'package.json', target.binary].sort())
})

const EXAMPLE = `
import { createRequire } from 'node:module'
import { PgBoss } from 'pg-boss-native'

const require = createRequire(import.meta.url)
const boss = new PgBoss({ connectionString: process.env.DATABASE_URL, schema: process.env.SCHEMA })
boss.on('error', console.error)
await boss.start()
await boss.createQueue('email')

// fetch and complete by hand
const first = await boss.send('email', { to: 'ada@example.com' })
const [fetched] = await boss.fetch('email')
await boss.complete('email', fetched.id, { sent: fetched.data.to })

// a worker: the job completes with the handler's result
const second = await boss.send('email', { to: 'grace@example.com' })
await boss.work('email', async ([job]) => ({ sent: job.data.to }))
let job
for (let i = 0; i < 100; i++) {
  job = await boss.getJobById('email', second)
  if (job.state === 'completed') break
  await new Promise(resolve => setTimeout(resolve, 100))
}
await boss.stop({ graceful: true })
console.log(JSON.stringify({
  fetchedIsFirst: fetched.id === first,
  worked: { state: job.state, output: job.output },
  addons: Object.keys(require.cache).filter(file => file.endsWith('.node'))
}))
`

const TYPED_EXAMPLE = `
import { PgBoss, type Job, type SendOptions } from 'pg-boss-native'

interface Email { to: string }

const boss = new PgBoss({ connectionString: process.env.DATABASE_URL, schema: 'typed' })
boss.on('error', (err: Error) => console.error(err.message))

export async function main (): Promise<void> {
  await boss.start()
  await boss.createQueue('email', { retryLimit: 3 })
  const options: SendOptions = { priority: 1 }
  const id: string | null = await boss.send('email', { to: 'ada@example.com' } satisfies Email, options)
  await boss.work<Email, { sent: string }>('email', async ([job]: Job<Email>[]) => ({ sent: job.data.to }))
  if (id) await boss.complete('email', id)
  // @ts-expect-error a queue name is a string (this line fails to compile if the types were missing)
  await boss.send(42)
  await boss.stop()
}
`

test('installed from the tarballs with no Rust on PATH: no install-script warning, the README example runs, the typed one compiles', { skip, timeout: 180_000 }, async (t) => {
  assert.ok(mainTarball && platformTarball, 'both packages were packed')
  const app = scratchApp('app')
  const npm = join(cleanEnv().PATH, 'npm')
  const { output } = run(npm, ['install', mainTarball, platformTarball,
    `typescript@${installedVersion('typescript')}`, `@types/node@${installedVersion('@types/node')}`], { cwd: app })
  t.diagnostic(output.trim().split('\n').slice(-3).join(' | '))
  assert.doesNotMatch(output, INSTALL_SCRIPT_WARNING)

  const installed = join(app, 'node_modules')
  assert.equal(existsSync(join(installed, 'pg-boss-native', nativeFileName())), false, 'the main package has no addon of its own')
  assert.ok(existsSync(join(installed, target.packageName, target.binary)))

  const admin = new pg.Client({ connectionString: databaseUrl })
  await admin.connect()
  t.after(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`)
    await admin.end()
  })
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`)

  writeFileSync(join(app, 'example.mjs'), EXAMPLE)
  const example = run(join(cleanEnv().PATH, 'node'), ['example.mjs'], { cwd: app, extraEnv: { DATABASE_URL: databaseUrl, SCHEMA } })
  const result = JSON.parse(example.stdout.trim().split('\n').pop())
  assert.equal(result.fetchedIsFirst, true)
  assert.deepEqual(result.worked, { state: 'completed', output: { sent: 'grace@example.com' } })
  assert.deepEqual(result.addons, [realpathSync(join(installed, target.packageName, target.binary))], 'the addon came from the platform package')
  const { rows } = await admin.query(`SELECT data->>'to' AS to, state, output FROM ${SCHEMA}.job WHERE name = 'email' ORDER BY created_on`)
  assert.deepEqual(rows, [
    { to: 'ada@example.com', state: 'completed', output: { sent: 'ada@example.com' } },
    { to: 'grace@example.com', state: 'completed', output: { sent: 'grace@example.com' } }
  ])

  const cjs = run(join(cleanEnv().PATH, 'node'), ['-e', "const PgBoss = require('pg-boss-native'); console.log(typeof PgBoss, PgBoss === PgBoss.PgBoss)"], { cwd: app })
  assert.equal(cjs.stdout.trim(), 'function true')

  // the CLI's bin, linked by npm, on the schema the example made
  const cli = run(join(installed, '.bin', 'pg-boss-native'), ['version', '--connection-string', databaseUrl, '--schema', SCHEMA], { cwd: app })
  assert.match(cli.stdout, new RegExp(`\\b${main.pgboss.schema}\\b`))

  writeFileSync(join(app, 'example.ts'), TYPED_EXAMPLE)
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', types: ['node'], skipLibCheck: false },
    files: ['example.ts']
  }, null, 2))
  run(join(cleanEnv().PATH, 'node'), [join(installed, 'typescript', 'bin', 'tsc'), '--noEmit', '-p', '.', '--pretty', 'false'], { cwd: app })
})

test('installed without its platform package, pg-boss-native says which package it wanted and why it might be missing', { skip, timeout: 120_000 }, () => {
  assert.ok(mainTarball, 'the main package was packed')
  const app = scratchApp('app-without-addon')
  run(join(cleanEnv().PATH, 'npm'), ['install', mainTarball], { cwd: app })
  const result = spawnSync(join(cleanEnv().PATH, 'node'), ['-e', "require('pg-boss-native')"], { cwd: app, env: cleanEnv(), encoding: 'utf8' })
  assert.notEqual(result.status, 0)
  assert.match(result.stderr, new RegExp(`no native addon for ${target.target} \\(${process.platform} ${process.arch}`))
  assert.match(result.stderr, new RegExp(`it wants the package ${target.packageName}\\.`))
  assert.match(result.stderr, new RegExp(`the package ${target.packageName}: not installed`))
  assert.match(result.stderr, /optional dependencies were omitted \(--omit=optional, --no-optional\)/)
  assert.match(result.stderr, new RegExp(`npm install ${target.packageName}@${main.version.replace(/\./g, '\\.')}`))
})
