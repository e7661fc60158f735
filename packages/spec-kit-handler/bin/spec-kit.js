#!/usr/bin/env node
// Present before the first build, so that installing the workspace links this bin without a warning.
import '../dist/specKit.js'
