#!/usr/bin/env node
// The published entry point: the compiled CLI. `npm start` builds first.
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
