import { readFileSync, type Stats, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { isMainThread } from 'node:worker_threads';

// On a worker thread (the tile readers) files are read synchronously: the thread exists to read, and a
// synchronous call spares the round trip through libuv's thread pool and the FileHandle promises, about
// 0.25 ms of CPU per image and label pair on the 2-core EPYC VMs, and as long again of the worker waiting.
// The main thread reads asynchronously, so that a slow disk never stalls training.

/** A file's bytes, read as the calling thread should (see above). */
export async function readWholeFile(path: string): Promise<Buffer> {
  return isMainThread ? readFile(path) : readFileSync(path);
}

/** A file's stats, read as the calling thread should (see above). */
export async function statFile(path: string): Promise<Stats> {
  return isMainThread ? stat(path) : statSync(path);
}
