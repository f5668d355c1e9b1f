// The per-platform packages (npm/<target>/, scripts/npm-version.mjs) and the loader that picks
// one (lib/loader.js, lib/platform.js). Needs no database and no network.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseTriple, releaseTargets } from '../scripts/targets.mjs'
import { syncPackages } from '../scripts/npm-version.mjs'
import { collectArtifacts } from '../scripts/artifacts.mjs'
import { KEPT, packedManifest, prepack, restore } from '../scripts/pack-manifest.mjs'
import { publishPlan, readFromTarball } from '../scripts/publish.mjs'

const require = createRequire(import.meta.url)
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { loadNative } = require('../lib/loader.js')
const { targetName, muslFromLdd, muslFromReport } = require('../lib/platform.js')
const readJson = file => JSON.parse(readFileSync(file, 'utf8'))

test('each napi target is a package named and constrained as napi-rs does it', () => {
  assert.deepEqual(parseTriple('x86_64-unknown-linux-musl'), {
    triple: 'x86_64-unknown-linux-musl',
    target: 'linux-x64-musl',
    os: 'linux',
    cpu: 'x64',
    libc: 'musl',
    packageName: 'pg-boss-native-linux-x64-musl',
    binary: 'pg-boss-native.linux-x64-musl.node',
    dir: join('npm', 'linux-x64-musl')
  })
  assert.equal(parseTriple('aarch64-apple-darwin').target, 'darwin-arm64')
  assert.equal(parseTriple('aarch64-apple-darwin').libc, undefined)
  assert.equal(parseTriple('x86_64-pc-windows-msvc').target, 'win32-x64-msvc')
  assert.equal(parseTriple('aarch64-unknown-linux-gnu').libc, 'glibc')
  assert.throws(() => parseTriple('riscv64gc-unknown-linux-gnu'), /no package layout for the target riscv64gc/)
})

test('the committed npm/ packages are in step with package.json', () => {
  assert.deepEqual(syncPackages({ check: true }), [])
  const main = readJson(join(root, 'package.json'))
  const targets = releaseTargets(main)
  assert.equal(targets.length, main.napi.targets.length)
  for (const t of targets) {
    const manifest = readJson(join(root, t.dir, 'package.json'))
    assert.equal(manifest.name, t.packageName)
    assert.equal(manifest.version, main.version)
    assert.deepEqual(manifest.os, [t.os])
    assert.deepEqual(manifest.cpu, [t.cpu])
    assert.deepEqual(manifest.libc, t.libc && [t.libc])
    assert.equal(manifest.main, t.binary)
    assert.deepEqual(manifest.files, [t.binary])
    assert.equal(manifest.scripts, undefined)
  }
})

test('the packed package.json names every platform package at exactly the version, and has no scripts or devDependencies', () => {
  const main = readJson(join(root, 'package.json'))
  assert.equal(main.optionalDependencies, undefined, 'the clone names them only when packed')
  const packed = packedManifest(main)
  assert.deepEqual(packed.optionalDependencies, Object.fromEntries(releaseTargets(main).map(t => [t.packageName, main.version])))
  assert.equal(packed.scripts, undefined)
  assert.equal(packed.devDependencies, undefined)
  assert.deepEqual(packed.dependencies, main.dependencies)
  assert.deepEqual(Object.keys(packed).slice(Object.keys(packed).indexOf('dependencies'), Object.keys(packed).indexOf('dependencies') + 2),
    ['dependencies', 'optionalDependencies'])
})

test('pack-manifest.mjs: prepack writes the packed package.json and keeps the clone\'s, postpack puts it back, a later prepack heals an interrupted pack', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pgbn-pack-manifest-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const original = readFileSync(join(root, 'package.json'), 'utf8')
  writeFileSync(join(dir, 'package.json'), original)
  prepack(dir)
  assert.deepEqual(readJson(join(dir, 'package.json')), packedManifest(JSON.parse(original)))
  assert.equal(readFileSync(join(dir, KEPT), 'utf8'), original)
  assert.equal(restore(dir), true)
  assert.equal(readFileSync(join(dir, 'package.json'), 'utf8'), original)
  assert.equal(existsSync(join(dir, KEPT)), false)

  prepack(dir) // and no postpack: the pack died
  prepack(dir)
  assert.equal(readFileSync(join(dir, KEPT), 'utf8'), original, 'the kept copy is still the clone\'s, not a packed one')
  restore(dir)
  assert.equal(readFileSync(join(dir, 'package.json'), 'utf8'), original)
})

test('npm-version.mjs moves every platform package to a new version', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pgbn-npm-version-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(join(root, 'npm'), join(dir, 'npm'), { recursive: true })
  const main = readJson(join(root, 'package.json'))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...main, version: '9.8.7' }, null, 2) + '\n')

  const drift = syncPackages({ root: dir, check: true })
  assert.equal(drift.length, releaseTargets(main).length, drift.join('\n'))
  assert.ok(drift.includes(`${join('npm', 'linux-x64-gnu', 'package.json')}: out of step with package.json`), drift.join('\n'))
  assert.equal(readJson(join(dir, 'npm', 'darwin-arm64', 'package.json')).version, main.version, '--check writes nothing')

  syncPackages({ root: dir })
  assert.deepEqual(syncPackages({ root: dir, check: true }), [])
  for (const t of releaseTargets(main)) assert.equal(readJson(join(dir, t.dir, 'package.json')).version, '9.8.7')
  assert.deepEqual(Object.values(packedManifest(readJson(join(dir, 'package.json'))).optionalDependencies), releaseTargets(main).map(() => '9.8.7'))
})

test('npm-version.mjs --check names a platform directory that is no longer a target', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pgbn-npm-version-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(join(root, 'npm'), join(dir, 'npm'), { recursive: true })
  const main = readJson(join(root, 'package.json'))
  const napi = { ...main.napi, targets: main.napi.targets.filter(triple => triple !== 'x86_64-apple-darwin') }
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...main, napi }, null, 2) + '\n')
  const drift = syncPackages({ root: dir, check: true })
  assert.ok(drift.includes("npm/darwin-x64: not a target in package.json's napi.targets (remove it)"), drift.join('\n'))
})

test('musl or glibc, read as napi-rs reads it', () => {
  assert.equal(muslFromLdd(() => '#!/bin/bash\n# glibc ldd\nTEXTDOMAIN=libc'), false)
  assert.equal(muslFromLdd(() => '\x7fELF... /lib/ld-musl-x86_64.so.1'), true)
  assert.equal(muslFromLdd(() => { throw new Error('ENOENT') }), null)
  assert.equal(muslFromReport({ header: { glibcVersionRuntime: '2.36' }, sharedObjects: [] }), false)
  assert.equal(muslFromReport({ header: {}, sharedObjects: ['/lib/ld-musl-aarch64.so.1'] }), true)
  assert.equal(muslFromReport(null), null)
  assert.equal(targetName({ platform: 'linux', arch: 'arm64', musl: true }), 'linux-arm64-musl')
  assert.equal(targetName({ platform: 'linux', arch: 'x64', musl: false }), 'linux-x64-gnu')
  assert.equal(targetName({ platform: 'darwin', arch: 'arm64' }), 'darwin-arm64')
  assert.equal(targetName({ platform: 'win32', arch: 'x64' }), 'win32-x64-msvc')
  if (process.platform === 'linux') {
    const glibc = Boolean(process.report.getReport().header.glibcVersionRuntime)
    assert.equal(targetName(), `linux-${process.arch}-${glibc ? 'gnu' : 'musl'}`)
  }
})

// a loader whose files and packages are what the test says
function fakeLoader ({ files = {}, packages = {}, env = {}, target = 'linux-x64-musl', version = '1.2.3', packed = true }) {
  const loaded = []
  const load = (specifier) => {
    loaded.push(specifier)
    if (specifier in files) {
      if (files[specifier] instanceof Error) throw files[specifier]
      return files[specifier]
    }
    const [name, sub] = specifier.split(/\/(?=package\.json$)/)
    if (name in packages) return sub ? { version: packages[name].version } : packages[name].binding
    throw Object.assign(new Error(`Cannot find module '${specifier}'`), { code: 'MODULE_NOT_FOUND' })
  }
  const manifest = packed
    ? { version, optionalDependencies: { 'pg-boss-native-linux-x64-musl': version, 'pg-boss-native-darwin-arm64': version } }
    : { version }
  const run = () => loadNative({ target, root: '/pkg', env, load, exists: file => file in files, manifest })
  return { run, loaded }
}

test('loader: a local build in the clone comes before the platform package', () => {
  const local = { local: true }
  const { run, loaded } = fakeLoader({
    files: { [join('/pkg', 'pg-boss-native.linux-x64-musl.node')]: local },
    packages: { 'pg-boss-native-linux-x64-musl': { version: '1.2.3', binding: { prebuilt: true } } }
  })
  assert.equal(run(), local)
  assert.deepEqual(loaded, [join('/pkg', 'pg-boss-native.linux-x64-musl.node')])
})

test('loader: without a local build, the platform package at the same version', () => {
  const prebuilt = { prebuilt: true }
  const { run } = fakeLoader({ packages: { 'pg-boss-native-linux-x64-musl': { version: '1.2.3', binding: prebuilt } } })
  assert.equal(run(), prebuilt)
})

test('loader: PG_BOSS_NATIVE_LIBRARY_PATH is the one file loaded when set', () => {
  const chosen = { chosen: true }
  const { run, loaded } = fakeLoader({
    files: { '/opt/x.node': chosen, [join('/pkg', 'pg-boss-native.linux-x64-musl.node')]: { local: true } },
    env: { PG_BOSS_NATIVE_LIBRARY_PATH: '/opt/x.node' }
  })
  assert.equal(run(), chosen)
  assert.deepEqual(loaded, ['/opt/x.node'])
})

test('loader: when nothing loads, the error names the wanted package, the platform and each attempt', () => {
  const { run } = fakeLoader({})
  assert.throws(run, (err) => {
    assert.match(err.message, /no native addon for linux-x64-musl \(.*musl, Node v\d+/)
    assert.match(err.message, /it wants the package pg-boss-native-linux-x64-musl/)
    assert.match(err.message, /a local build at .*pg-boss-native\.linux-x64-musl\.node: none/)
    assert.match(err.message, /the package pg-boss-native-linux-x64-musl: not installed/)
    assert.match(err.message, /--omit=optional/)
    assert.match(err.message, /npm install pg-boss-native-linux-x64-musl@1\.2\.3/)
    return true
  })
})

test('loader: a platform package of another version is refused, saying which versions', () => {
  const { run } = fakeLoader({ packages: { 'pg-boss-native-linux-x64-musl': { version: '1.2.2', binding: {} } } })
  assert.throws(run, /pg-boss-native-linux-x64-musl: version 1\.2\.2 is installed, but pg-boss-native 1\.2\.3 needs exactly 1\.2\.3/)
})

test('loader: a package that fails to load reports why (e.g. a too old glibc)', () => {
  const { run } = fakeLoader({
    files: { 'pg-boss-native-linux-x64-musl': new Error("/lib/libc.so.6: version `GLIBC_2.28' not found") }
  })
  assert.throws(run, /the package pg-boss-native-linux-x64-musl: \/lib\/libc\.so\.6: version `GLIBC_2\.28' not found/)
})

test('loader: a platform without a published package says so and how to build one', () => {
  const { run } = fakeLoader({ target: 'freebsd-x64' })
  assert.throws(run, /publishes no prebuilt package for freebsd-x64 \(there are: linux-x64-musl, darwin-arm64\)\. Build it from source/)
})

// a copy of the package's manifests, lib/ and the release scripts (npm pack runs the prepack one)
function releaseRoot (t) {
  const dir = mkdtempSync(join(tmpdir(), 'pgbn-release-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(join(root, 'npm'), join(dir, 'npm'), { recursive: true })
  cpSync(join(root, 'lib'), join(dir, 'lib'), { recursive: true })
  for (const script of ['targets.mjs', 'npm-version.mjs', 'pack-manifest.mjs']) cpSync(join(root, 'scripts', script), join(dir, 'scripts', script))
  cpSync(join(root, 'package.json'), join(dir, 'package.json'))
  return dir
}

// where publishPlan packs the main package: inside the test's directory, removed with it
function packed (dir) {
  const destination = join(dir, 'packed')
  mkdirSync(destination, { recursive: true })
  return destination
}

function fakeArtifacts (dir, skip = []) {
  const artifacts = join(dir, 'downloaded')
  for (const t of releaseTargets(readJson(join(dir, 'package.json')))) {
    if (skip.includes(t.target)) continue
    mkdirSync(join(artifacts, `addon-${t.triple}`), { recursive: true })
    writeFileSync(join(artifacts, `addon-${t.triple}`, t.binary), `addon for ${t.target}`)
  }
  return artifacts
}

test('artifacts.mjs puts each downloaded addon in its package, and refuses a release with one missing', (t) => {
  const dir = releaseRoot(t)
  assert.throws(() => collectArtifacts(fakeArtifacts(dir, ['darwin-x64']), { root: dir }),
    /pg-boss-native\.darwin-x64\.node: not found/)
  assert.equal(existsSync(join(dir, 'npm', 'linux-x64-gnu', 'pg-boss-native.linux-x64-gnu.node')), false, 'nothing copied')
  const copied = collectArtifacts(fakeArtifacts(dir), { root: dir })
  assert.equal(copied.length, 7)
  assert.equal(readFileSync(join(dir, 'npm', 'win32-x64-msvc', 'pg-boss-native.win32-x64-msvc.node'), 'utf8'), 'addon for win32-x64-msvc')
})

test('publish.mjs publishes every platform package before the main package, and refuses a missing addon', (t) => {
  const dir = releaseRoot(t)
  const incomplete = publishPlan({ root: dir, destination: packed(dir) })
  assert.equal(incomplete.problems.length, 7, incomplete.problems.join('\n'))
  assert.match(incomplete.problems[0], /npm\/linux-x64-gnu\/pg-boss-native\.linux-x64-gnu\.node: missing/)

  collectArtifacts(fakeArtifacts(dir), { root: dir })
  const { steps, problems } = publishPlan({ root: dir, destination: packed(dir) })
  assert.deepEqual(problems, [])
  const main = readJson(join(dir, 'package.json'))
  assert.deepEqual(steps.map(s => s.name), [...releaseTargets(main).map(t => t.packageName), 'pg-boss-native'])
  assert.ok(steps.every(s => s.version === main.version && s.tag === (main.version.includes('-') ? 'next' : 'latest')))
  const tarball = steps.at(-1).spec
  assert.match(tarball, /pg-boss-native-\d+\.\d+\.\d+.*\.tgz$/, 'the main package is published from the tarball it checked')
  assert.deepEqual(JSON.parse(readFromTarball(tarball, 'package/package.json')), packedManifest(main))
  assert.equal(readFileSync(join(dir, 'package.json'), 'utf8'), readFileSync(join(root, 'package.json'), 'utf8'), 'postpack put the clone\'s package.json back')
})

test('publish.mjs refuses a main package packed without its pack steps (no optionalDependencies)', (t) => {
  const dir = releaseRoot(t)
  collectArtifacts(fakeArtifacts(dir), { root: dir })
  process.env.npm_config_ignore_scripts = 'true'
  t.after(() => { delete process.env.npm_config_ignore_scripts })
  const { problems } = publishPlan({ root: dir, destination: packed(dir) })
  assert.equal(problems.length, 1, problems.join('\n'))
  assert.match(problems[0], /the packed package\.json's optionalDependencies are undefined \(was it packed with --ignore-scripts\?\)/)
})

test('publish.mjs refuses a main package that would carry an addon', (t) => {
  const dir = releaseRoot(t)
  collectArtifacts(fakeArtifacts(dir), { root: dir })
  const main = readJson(join(dir, 'package.json'))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...main, files: [...main.files, '*.node'] }, null, 2) + '\n')
  writeFileSync(join(dir, 'pg-boss-native.linux-x64-gnu.node'), 'stray')
  const { problems } = publishPlan({ root: dir, destination: packed(dir) })
  assert.deepEqual(problems, ['pg-boss-native.linux-x64-gnu.node: the main package would carry an addon'])
})

test('loader: in a clone without a build, the error says to build it', () => {
  const { run } = fakeLoader({ packed: false })
  assert.throws(run, /Build it from source: in a clone, with a Rust toolchain, `npm install` \(which runs `npm run build`\), or install pg-boss-native-linux-x64-musl@1\.2\.3 beside it\./)
})
