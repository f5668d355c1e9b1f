// The release targets: package.json's napi.targets (Rust target triples), each with the names and
// npm platform fields of its package, as napi-rs derives them (its cli's parseTriple):
//   x86_64-unknown-linux-musl -> { target: 'linux-x64-musl', os: 'linux', cpu: 'x64', libc: 'musl' }
// lib/platform.js computes the same `target` name for the running machine.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const { nativeFileName, nativePackageName } = require('../lib/platform.js')

export const root = join(dirname(fileURLToPath(import.meta.url)), '..')

const CPUS = { x86_64: 'x64', aarch64: 'arm64', i686: 'ia32', armv7: 'arm' }
const OSES = { linux: 'linux', darwin: 'darwin', windows: 'win32' }

/** One Rust target triple as the package that carries its addon. */
export function parseTriple (triple) {
  const [arch, , system, abi] = triple.split('-')
  const cpu = CPUS[arch]
  const os = OSES[system]
  if (!cpu || !os || (os !== 'darwin' && !['gnu', 'musl', 'msvc'].includes(abi))) {
    throw new Error(`scripts/targets.mjs: no package layout for the target ${triple}`)
  }
  const target = os === 'darwin' ? `${os}-${cpu}` : `${os}-${cpu}-${abi}`
  return {
    triple,
    target,
    os,
    cpu,
    libc: abi === 'gnu' ? 'glibc' : abi === 'musl' ? 'musl' : undefined,
    packageName: nativePackageName(target),
    binary: nativeFileName(target),
    dir: join('npm', target)
  }
}

export function readManifest (dir = root) {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
}

/** Every release target of the package at `dir`. */
export function releaseTargets (manifest = readManifest()) {
  return (manifest.napi?.targets ?? []).map(parseTriple)
}
