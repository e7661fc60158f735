#!/usr/bin/env node
// Present before the first build, so that installing the workspace links this bin without a warning.
import { main } from '../dist/cli.js'

main(process.argv.slice(2)).then((code) => process.exit(code))
