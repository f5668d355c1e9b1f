// The package.json that `npm pack` puts in the main package: the clone's, plus optionalDependencies
// naming every platform package at exactly this version, which is how npm installs the one addon
// that fits (napi-rs's prepublish adds them the same way; see scripts/npm-version.mjs for why the
// clone's package.json does not name them), minus what only the clone uses: its scripts (the
// build, tests, these pack steps) and devDependencies. So the published package.json has no
// script at all, install script or other.
//
// npm runs it around packing (the prepack and postpack scripts, which run only for a directory
// being packed, never when a package is installed):
//   prepack         keeps the clone's package.json as .package.json.unpacked, writes the packed one
//   postpack        puts the clone's back
//   prepublishOnly  refuses `npm publish` in the directory: npm re-reads package.json after
//                   postpack and would send the registry metadata without optionalDependencies
//                   (which is what npm installs from); scripts/publish.mjs publishes the packed
//                   tarball itself
// A prepack that finds a kept copy (a pack that died before its postpack) restores it first.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { optionalDependencies } from './npm-version.mjs'
import { root as defaultRoot } from './targets.mjs'

export const KEPT = '.package.json.unpacked'

/** The clone's manifest with the optionalDependencies (after dependencies, where npm puts them), without scripts and devDependencies. */
export function packedManifest (main) {
  const { optionalDependencies: _, scripts, devDependencies, ...rest } = main
  const packed = {}
  for (const [key, value] of Object.entries(rest)) {
    packed[key] = value
    if (key === 'dependencies') packed.optionalDependencies = optionalDependencies(main)
  }
  if (!('optionalDependencies' in packed)) packed.optionalDependencies = optionalDependencies(main)
  return packed
}

export function restore (root = defaultRoot) {
  const kept = join(root, KEPT)
  if (!existsSync(kept)) return false
  renameSync(kept, join(root, 'package.json'))
  return true
}

export function prepack (root = defaultRoot) {
  if (restore(root)) console.error(`pg-boss-native: restored package.json from ${KEPT}, left by a pack that did not finish`)
  const file = join(root, 'package.json')
  const text = readFileSync(file, 'utf8')
  writeFileSync(join(root, KEPT), text)
  writeFileSync(file, JSON.stringify(packedManifest(JSON.parse(text)), null, 2) + '\n')
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const step = process.argv[2]
  if (step === 'prepack') prepack()
  else if (step === 'postpack') restore()
  else if (step === 'prepublishOnly') {
    console.error('pg-boss-native: publish with `node scripts/publish.mjs`, which publishes the platform packages and ' +
      'then the packed tarball; `npm publish` here would send the registry a package.json without the optionalDependencies')
    process.exit(1)
  } else {
    console.error('usage: node scripts/pack-manifest.mjs prepack|postpack|prepublishOnly')
    process.exit(2)
  }
}
