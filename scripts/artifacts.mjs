// Puts the built addons into their packages: every pg-boss-native.<target>.node found under the
// given directory (the release workflow downloads each build job's upload into artifacts/<name>/)
// is copied to npm/<target>/. Fails, naming them, when a release target has no addon, or when
// one is found twice, so a release never goes out with a platform missing.
//
//   node scripts/artifacts.mjs artifacts
import { copyFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { pathToFileURL } from 'node:url'
import { readManifest, releaseTargets, root as defaultRoot } from './targets.mjs'

function filesUnder (dir) {
  return readdirSync(dir).flatMap(name => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? filesUnder(path) : [path]
  })
}

/** Copies each target's addon from `from` into npm/<target>/; returns the copies made. */
export function collectArtifacts (from, { root = defaultRoot } = {}) {
  const files = filesUnder(from)
  const problems = []
  const copies = []
  for (const t of releaseTargets(readManifest(root))) {
    const found = files.filter(file => file.endsWith(`/${t.binary}`) || file.endsWith(`\\${t.binary}`))
    if (found.length !== 1) {
      problems.push(found.length ? `${t.binary}: found ${found.length} times (${found.join(', ')})` : `${t.binary}: not found`)
      continue
    }
    copies.push({ from: found[0], to: join(root, t.dir, t.binary) })
  }
  if (problems.length) throw new Error(`scripts/artifacts.mjs: under ${from}:\n  ${problems.join('\n  ')}`)
  for (const { from: source, to } of copies) copyFileSync(source, to)
  return copies.map(({ from: source, to }) => `${relative(root, to)} <- ${source}`)
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const from = process.argv[2]
  if (!from) {
    console.error('usage: node scripts/artifacts.mjs <directory with the built .node files>')
    process.exit(2)
  }
  try {
    for (const line of collectArtifacts(from)) console.log(line)
  } catch (err) {
    console.error(err.message)
    process.exit(1)
  }
}
