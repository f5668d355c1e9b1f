'use strict'
// The native addon (see loader.js for where it comes from).

module.exports = require('./loader.js').loadNative()
