'use strict'
// The file and package names of the native addon for this machine, as napi-rs names them.

const { readFileSync } = require('node:fs')

function isMusl () {
  if (process.platform !== 'linux') return false
  try {
    return readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
  } catch {
    const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null
    return !report?.header?.glibcVersionRuntime
  }
}

function platformTriple () {
  const { platform, arch } = process
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

function nativeFileName () {
  return `pg-boss-native.${platformTriple()}.node`
}

module.exports = { platformTriple, nativeFileName }
