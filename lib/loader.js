'use strict'
// Finds the native addon for this machine, in the order napi-rs's generated loaders use:
//   1. PG_BOSS_NATIVE_LIBRARY_PATH, when set: that file and nothing else;
//   2. a local build at the package root (pg-boss-native.<target>.node, what `npm run build`
//      writes in a clone; the published package carries none);
//   3. the prebuilt package for the target (pg-boss-native-<target>), which npm installs as an
//      optional dependency of pg-boss-native on the platform it fits (its package.json's
//      os/cpu/libc), at exactly pg-boss-native's version.
// When none loads, the error names the package it wanted, the platform, and why each step failed.

const { existsSync, readFileSync } = require('node:fs')
const { join } = require('node:path')
const { targetName, nativeFileName, nativePackageName } = require('./platform.js')

const ROOT = join(__dirname, '..')

function describePlatform (target) {
  const libc = target.endsWith('-musl') ? ', musl' : target.endsWith('-gnu') ? ', glibc' : ''
  return `${process.platform} ${process.arch}${libc}, Node ${process.version}`
}

// the main package's version and optional dependencies (a copy of index.js and lib/ without its
// package.json, as the conformance runs make, has neither: any platform package version is taken)
function readManifest (root) {
  try {
    return JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  } catch {
    return {}
  }
}

function isMissing (err, specifier) {
  return err?.code === 'MODULE_NOT_FOUND' && String(err.message).includes(`'${specifier}'`)
}

/**
 * Loads the addon. Everything it reads can be handed in, so the order and the error can be
 * tested without the platforms themselves.
 */
function loadNative ({
  target = targetName(),
  root = ROOT,
  env = process.env,
  load = require,
  exists = existsSync,
  manifest = readManifest(root)
} = {}) {
  const wanted = nativePackageName(target)
  const tried = []

  if (env.PG_BOSS_NATIVE_LIBRARY_PATH) {
    const file = env.PG_BOSS_NATIVE_LIBRARY_PATH
    try {
      return load(file)
    } catch (err) {
      throw new Error(`pg-boss-native: PG_BOSS_NATIVE_LIBRARY_PATH=${file} did not load (${describePlatform(target)}): ${err.message}`)
    }
  }

  const local = join(root, nativeFileName(target))
  if (exists(local)) {
    try {
      return load(local)
    } catch (err) {
      tried.push(`a local build at ${local}: ${err.message}`)
    }
  } else {
    tried.push(`a local build at ${local}: none (\`npm run build\` in a clone makes it)`)
  }

  try {
    const binding = load(wanted)
    const version = load(`${wanted}/package.json`).version
    if (manifest.version === undefined || version === manifest.version) return binding
    tried.push(`the package ${wanted}: version ${version} is installed, but pg-boss-native ${manifest.version} needs exactly ${manifest.version}`)
  } catch (err) {
    tried.push(`the package ${wanted}: ${isMissing(err, wanted) ? 'not installed' : err.message}`)
  }

  const published = Object.keys(manifest.optionalDependencies ?? {})
  const fromSource = 'Build it from source: in a clone, with a Rust toolchain, `npm install` (which runs `npm run build`)'
  const advice = !manifest.optionalDependencies
    // a clone (its package.json names the platform packages only when packed) or a bare copy
    ? `${fromSource}, or install ${wanted}@${manifest.version ?? '<this version>'} beside it.`
    : published.includes(wanted)
      ? `npm installs ${wanted} with pg-boss-native as an optional dependency, so it is missing when ` +
        'optional dependencies were omitted (--omit=optional, --no-optional) or the lockfile was made on ' +
        `another platform (npm/cli#4828). Install it with \`npm install ${wanted}@${manifest.version}\`, ` +
        'or remove node_modules and package-lock.json and install again.'
      : `pg-boss-native publishes no prebuilt package for ${target} (there are: ` +
        `${published.map(name => name.slice('pg-boss-native-'.length)).join(', ')}). ` +
        `${fromSource}, and point PG_BOSS_NATIVE_LIBRARY_PATH at the .node file it writes.`
  throw new Error(
    `pg-boss-native: no native addon for ${target} (${describePlatform(target)}); it wants the package ${wanted}.\n` +
    `Tried:\n${tried.map(line => `  - ${line}`).join('\n')}\n${advice}`
  )
}

module.exports = { loadNative }
