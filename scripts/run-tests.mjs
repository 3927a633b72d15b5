#!/usr/bin/env node
// Runs every compiled test file in its own Node process (TF.js backends and wasm threads are per process),
// two at a time, lists the skipped tests with their reasons (the `skipped: NAME — REASON` lines that
// test/helpers/skips.ts prints) and ends with the line `N passed, N failed, N skipped`.
// Usage: node scripts/run-tests.mjs [substring...]  (only test files whose path contains a substring)
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { stripVTControlCharacters } from 'node:util';

const root = new URL('..', import.meta.url).pathname;
const testDir = join(root, 'dist', 'test');
const filters = process.argv.slice(2);

function listTests(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listTests(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}

const files = listTests(testDir)
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
const FILE_TIMEOUT_S = Number(process.env.TEST_FILE_TIMEOUT_S ?? 420);
const count = (text, label) => Number(text.match(new RegExp(`${label}:\\s+(\\d+)`))?.[1] ?? NaN);

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    // Numeric comparisons run the wasm backend single-threaded unless asked otherwise; the threads test sets its own.
    const env = { SEGSTREAM_WASM_THREADS: '1', ...process.env, FORCE_COLOR: '0' };
    const child = spawn(process.execPath, [file], { cwd: root, env });
    // A file that hangs is killed and counted as failed rather than stalling the whole run.
    const timer = setTimeout(() => {
      output += `\n(killed after ${FILE_TIMEOUT_S} s)`;
      child.kill('SIGKILL');
    }, FILE_TIMEOUT_S * 1000);
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => {
      clearTimeout(timer);
      const text = stripVTControlCharacters(output);
      const total = count(text, 'Total');
      const passed = count(text, 'Passed');
      const skipped = count(text, 'Skipped') || 0;
      const skipReasons = [...text.matchAll(/^skipped: (.+)$/gm)].map((m) => m[1]);
      let result;
      if (Number.isNaN(total) || Number.isNaN(passed)) result = { passed: 0, failed: 1, skipped: 0 };
      else {
        // uvu's Total counts the tests that ran, not the skipped ones.
        const failed = total - passed;
        // A crash after the summary (or a non-zero exit) still counts as a failure.
        result = { passed, failed: failed === 0 && code !== 0 ? 1 : failed, skipped };
      }
      resolve({ file, code, text, skipReasons, seconds: (Date.now() - started) / 1000, ...result });
    });
  });
}

const queue = [...files];
const results = [];
const workers = Array.from(
  { length: Math.min(Number(process.env.TEST_CONCURRENCY ?? cpus().length), 2) },
  async () => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      const r = await runFile(file);
      results.push(r);
      const name = relative(testDir, file);
      const status = r.failed ? 'FAIL' : 'ok  ';
      console.log(
        `${status} ${name}  ${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''}  (${r.seconds.toFixed(1)}s)`,
      );
      if (r.failed)
        console.log(
          r.text
            .split('\n')
            .map((l) => '    ' + l)
            .join('\n'),
        );
    }
  },
);
await Promise.all(workers);
const passed = results.reduce((s, r) => s + r.passed, 0);
const failed = results.reduce((s, r) => s + r.failed, 0);
const skipped = results.reduce((s, r) => s + r.skipped, 0);
if (files.length === 0) console.log('no test files matched');
if (skipped > 0) {
  console.log(`\nskipped (${skipped}):`);
  for (const r of results.sort((a, b) => a.file.localeCompare(b.file))) {
    const name = relative(testDir, r.file);
    for (const reason of r.skipReasons) console.log(`  ${name}: ${reason}`);
    const unexplained = r.skipped - r.skipReasons.length;
    if (unexplained > 0) console.log(`  ${name}: ${unexplained} test(s) skipped without a reason line`);
  }
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || files.length === 0 ? 1 : 0);
