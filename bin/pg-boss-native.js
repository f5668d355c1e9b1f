#!/usr/bin/env node
'use strict'
// The `pg-boss-native` command (lib/cli): pg-boss 12.38's CLI on pg-boss-native's engine.
require('../lib/cli/main.js').main()
