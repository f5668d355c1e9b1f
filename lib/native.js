'use strict'
// Loads the native addon: the file `npm install` built next to the package, else the prebuilt
// per-platform package.

const { join } = require('node:path')
const { platformTriple, nativeFileName } = require('./platform.js')

function loadNative () {
  const errors = []
  for (const candidate of [join(__dirname, '..', nativeFileName()), `pg-boss-native-${platformTriple()}`]) {
    try {
      return require(candidate)
    } catch (err) {
      errors.push(`${candidate}: ${err.message}`)
    }
  }
  throw new Error(
    `pg-boss-native: no native addon for ${platformTriple()}. Build it with \`npm run build\` ` +
    `(needs a Rust toolchain) or install the matching prebuilt package.\n${errors.join('\n')}`
  )
}

module.exports = loadNative()
