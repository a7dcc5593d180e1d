#!/usr/bin/env node
import { runCli } from './main.js';

// No top-level await, so the entry builds as CommonJS too.
void runCli(process.argv.slice(2), {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
}).then((code) => {
  process.exitCode = code;
});
