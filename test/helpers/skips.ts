import { existsSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { type Callback, test } from 'uvu';
import { selectBackend } from '../../src/backend/selectBackend.js';
import { PROJECT_ROOT } from './data.js';

/**
 * A test that needs something a clone may lack: it runs when `missing` is undefined; otherwise uvu counts it
 * as skipped and one line, `skipped: NAME — MISSING`, says why (scripts/run-tests.mjs lists these lines at
 * the end of the run).
 */
export function testUnlessMissing(name: string, missing: string | undefined, handler: Callback): void {
  if (missing === undefined) return test(name, handler);
  console.log(`skipped: ${name} — ${missing}`);
  test.skip(name, handler);
}

/** A path as a reader of the skip line knows it: from the project's root when it lies beside or inside it. */
function shownPath(path: string): string {
  const fromRoot = relative(PROJECT_ROOT, path);
  return isAbsolute(fromRoot) || fromRoot.startsWith('../..') ? path : fromRoot;
}

/**
 * A conformance test on a real dataset (a folder of ../shared/data): it runs where the folder exists (CI
 * always has it) and is skipped elsewhere. `what` says what of the real data the test needs.
 */
export function realDataTest(name: string, dir: string, what: string, handler: Callback): void {
  testUnlessMissing(
    name,
    existsSync(dir) ? undefined : `needs ${shownPath(dir)} (${what}), not present`,
    handler,
  );
}

/**
 * Why the webgpu backend cannot run here (its packages or a WebGPU adapter missing; Mesa's lavapipe from
 * bookworm-backports is enough), or undefined where it runs. Leaves webgpu selected when it runs.
 */
export async function webgpuMissing(): Promise<string | undefined> {
  try {
    await selectBackend({ backend: 'webgpu' });
    return undefined;
  } catch (error) {
    return `needs a WebGPU adapter (${error instanceof Error ? error.message : String(error)})`;
  }
}
