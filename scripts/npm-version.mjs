// Keeps the per-platform packages in step with the main package.
//
//   node scripts/npm-version.mjs          write npm/<target>/package.json and README.md for every
//                                         target in package.json's napi.targets, at the main
//                                         package's version
//   node scripts/npm-version.mjs --check  change nothing; list what is out of step and exit 1
//
// `npm version <new>` runs it (the `version` script), so a release bumps every package at once.
// The platform manifests are derived data: edit package.json (version, napi.targets, license,
// engines...) and run this, never the files under npm/ by hand. The main package names them in
// its optionalDependencies only when packed (scripts/pack-manifest.mjs), as napi-rs's prepublish
// adds them: a version's platform packages exist on the registry only once it is published, and
// naming them in the clone's package.json would leave package-lock.json naming packages npm
// cannot find, which `npm ci` refuses.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { readManifest, releaseTargets, root as defaultRoot } from './targets.mjs'

const SHARED_FIELDS = ['license', 'engines', 'repository', 'homepage', 'bugs', 'author']

/** The package.json of one platform package. */
export function platformManifest (main, t) {
  const manifest = {
    name: t.packageName,
    version: main.version,
    description: `The ${t.target} native addon of ${main.name}; install ${main.name}, which depends on it`,
    os: [t.os],
    cpu: [t.cpu],
    ...(t.libc && { libc: [t.libc] }),
    main: t.binary,
    files: [t.binary]
  }
  for (const field of SHARED_FIELDS) if (main[field] !== undefined) manifest[field] = main[field]
  if (main.publishConfig?.access) manifest.publishConfig = { access: main.publishConfig.access }
  return manifest
}

export function platformReadme (main, t) {
  return `# ${t.packageName}\n\n` +
    `The prebuilt native addon of [${main.name}](https://www.npmjs.com/package/${main.name}) for ` +
    `${t.target} (Rust target \`${t.triple}\`).\n\n` +
    `Install \`${main.name}\`, not this package: npm picks the package that fits the machine from ` +
    `${main.name}'s optional dependencies.\n`
}

/** The main package's optionalDependencies: every platform package at exactly its version. */
export function optionalDependencies (main) {
  return Object.fromEntries(releaseTargets(main).map(t => [t.packageName, main.version]))
}

/** What the files under npm/ should hold: path (relative to root) -> text. */
export function expectedFiles (main) {
  const files = new Map()
  for (const t of releaseTargets(main)) {
    files.set(join(t.dir, 'package.json'), JSON.stringify(platformManifest(main, t), null, 2) + '\n')
    files.set(join(t.dir, 'README.md'), platformReadme(main, t))
  }
  return files
}

/** The differences between the files and what they should hold; writes them unless `check`. */
export function syncPackages ({ root = defaultRoot, check = false } = {}) {
  const main = readManifest(root)
  const problems = []
  for (const [path, text] of expectedFiles(main)) {
    const file = join(root, path)
    // a Windows checkout may have turned LF into CRLF; that is not a difference
    const current = existsSync(file) ? readFileSync(file, 'utf8').replace(/\r\n/g, '\n') : null
    if (current === text) continue
    problems.push(`${path}: ${current === null ? 'missing' : 'out of step with package.json'}`)
    if (!check) {
      mkdirSync(join(file, '..'), { recursive: true })
      writeFileSync(file, text)
    }
  }
  const known = new Set(releaseTargets(main).map(t => t.target))
  const npmDir = join(root, 'npm')
  for (const dir of existsSync(npmDir) ? readdirSync(npmDir) : []) {
    if (!known.has(dir)) problems.push(`npm/${dir}: not a target in package.json's napi.targets (remove it)`)
  }
  if (main.optionalDependencies) {
    problems.push('package.json: optionalDependencies are added when packing (scripts/pack-manifest.mjs); remove them')
  }
  return problems
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const check = process.argv.includes('--check')
  const problems = syncPackages({ check })
  if (check) {
    if (problems.length) {
      console.error(`pg-boss-native: the platform packages are out of step (run node scripts/npm-version.mjs):\n  ${problems.join('\n  ')}`)
      process.exit(1)
    }
    console.log('pg-boss-native: every platform package is in step with package.json')
  } else {
    for (const line of problems) console.log(`updated ${line}`)
    if (!problems.length) console.log('pg-boss-native: every platform package was in step already')
  }
}
