import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from './helpers/data.js';

/**
 * Starts `stream-train train` on the built-in synthetic data, sends `signal` once the first step's event is
 * out, and returns the exit code and output.
 */
function trainAndInterrupt(signal: 'SIGINT' | 'SIGTERM', out: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      join(PROJECT_ROOT, 'bin', 'stream-train'),
      ['train', '--out', out, '--synthetic-images', '4', '--tile-size', '32', '--base-filters', '2', '--depth', '1', '--epochs', '50', '--backend', 'cpu', '--metrics', 'ndjson:-'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (!sent && stdout.includes('"type":"batch"')) {
        sent = true;
        child.kill(signal);
      }
    });
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

for (const [signal, exitCode] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  test(`${signal} stops at the next batch boundary, writes a checkpoint and exits ${exitCode}`, async () => {
    const out = mkdtempSync(join(tmpdir(), `segstream-${signal}-`));
    try {
      const { code, stdout, stderr } = await trainAndInterrupt(signal, out);
      assert.is(code, exitCode, stderr);
      const events = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; checkpoint?: string });
      const stopped = events.find((e) => e.type === 'stopped');
      assert.ok(stopped?.checkpoint, 'a stopped event naming its checkpoint');
      assert.ok(existsSync(join(stopped.checkpoint, 'state.json')), 'the checkpoint is complete');
      assert.ok(readdirSync(join(out, 'checkpoints')).length >= 1);
      assert.is(events.filter((e) => e.type === 'epoch').length, 0, 'stopped inside the first epoch');
      assert.match(stderr, new RegExp(`interrupted by ${signal}: checkpoint in .*; continue with: npx stream-train train --out .* --resume`));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
}

test.run();
