'use strict'
// Which prebuilt addon this machine needs, named as napi-rs names them: the target's
// "platform-arch[-abi]" (linux-x64-gnu, linux-arm64-musl, darwin-arm64, win32-x64-msvc), the file a
// local build writes (pg-boss-native.<target>.node) and the npm package that carries it
// (pg-boss-native-<target>). scripts/targets.mjs derives the same names from the Rust target
// triples in package.json, for the packages themselves.

const { readFileSync } = require('node:fs')

const BINARY_NAME = 'pg-boss-native'
const PACKAGE_PREFIX = 'pg-boss-native'

const isMuslLibrary = (file) => file.includes('libc.musl-') || file.includes('ld-musl-')

/** musl or glibc, from /usr/bin/ldd (a script on glibc, a musl loader link on Alpine); null if unknown. */
function muslFromLdd (readFile = readFileSync) {
  try {
    return readFile('/usr/bin/ldd', 'utf8').includes('musl')
  } catch {
    return null
  }
}

/** musl or glibc, from Node's diagnostic report: glibc builds of Node name their glibc in its header. */
function muslFromReport (report) {
  if (!report) return null
  if (report.header?.glibcVersionRuntime) return false
  if (Array.isArray(report.sharedObjects) && report.sharedObjects.some(isMuslLibrary)) return true
  return false
}

function processReport () {
  if (typeof process.report?.getReport !== 'function') return null
  // the report would otherwise list every open socket, which is slow and beside the point
  const excludeNetwork = process.report.excludeNetwork
  process.report.excludeNetwork = true
  try {
    return process.report.getReport()
  } catch {
    return null
  } finally {
    process.report.excludeNetwork = excludeNetwork
  }
}

function muslFromLddVersion () {
  try {
    // musl's ldd prints its banner to stderr and exits 1; glibc's prints "GNU libc" to stdout
    const { spawnSync } = require('node:child_process')
    const result = spawnSync('ldd', ['--version'], { encoding: 'utf8' })
    return `${result.stdout}${result.stderr}`.includes('musl')
  } catch {
    return false
  }
}

let muslCache = null

/** True on a musl Linux (Alpine, Void musl...): the checks napi-rs's loader makes, cheapest first. */
function isMusl () {
  if (process.platform !== 'linux') return false
  if (muslCache === null) muslCache = muslFromLdd() ?? muslFromReport(processReport()) ?? muslFromLddVersion()
  return muslCache
}

/** The napi-rs target name of a platform: "linux-x64-gnu", "darwin-arm64", "win32-x64-msvc". */
function targetName ({ platform = process.platform, arch = process.arch, musl } = {}) {
  if (platform === 'linux') return `linux-${arch}-${(musl ?? isMusl()) ? 'musl' : 'gnu'}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

/** The file a local build writes at the package root: pg-boss-native.<target>.node. */
function nativeFileName (target = targetName()) {
  return `${BINARY_NAME}.${target}.node`
}

/** The npm package that carries the prebuilt addon for a target: pg-boss-native-<target>. */
function nativePackageName (target = targetName()) {
  return `${PACKAGE_PREFIX}-${target}`
}

module.exports = { BINARY_NAME, PACKAGE_PREFIX, targetName, nativeFileName, nativePackageName, isMusl, muslFromLdd, muslFromReport }
