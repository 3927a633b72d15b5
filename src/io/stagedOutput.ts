import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import fg from 'fast-glob';

/**
 * An output folder written through a staging folder inside it: writers write under `dir`, and `publish`
 * renames what they wrote to the same path under the output folder. A rename within one file system is
 * atomic, so a reader (or a merge step) never sees half a file, and a process killed mid-write (or stopped
 * by an error) leaves only its staging folder, which the next attempt under the same name clears first. A rerun thus overwrites
 * each output whole.
 *
 * @example
 * ```ts
 * const staged = await StagedOutput.open('out', '0-of-3');
 * await writeFile(join(staged.dir, 'masks', 'a.png'), png);
 * const written = await staged.publish(); // ['masks/a.png'], now at out/masks/a.png
 * await staged.close();
 * ```
 */
export class StagedOutput {
  private constructor(
    /** The output folder. */
    readonly outDir: string,
    /** Where writers write: `OUT/.staging-<name>`. */
    readonly dir: string,
  ) {}

  /**
   * Opens (empty) the staging folder `OUT/.staging-<name>`; `name` keeps processes that write into one
   * output folder (the shards of a job) apart.
   */
  static async open(outDir: string, name: string): Promise<StagedOutput> {
    const dir = join(outDir, `.staging-${name}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return new StagedOutput(outDir, dir);
  }

  /** The files written under `dir` and not yet published or discarded, relative to it, sorted. */
  private async staged(): Promise<string[]> {
    return (await fg('**/*', { cwd: this.dir, dot: true, onlyFiles: true })).sort();
  }

  /** Moves every file written under `dir` since the last call into the output folder; returns their paths relative to it, sorted. */
  async publish(): Promise<string[]> {
    const files = await this.staged();
    for (const file of files) {
      await mkdir(dirname(join(this.outDir, file)), { recursive: true });
      await rename(join(this.dir, file), join(this.outDir, file));
    }
    return files;
  }

  /** Deletes what was written since the last `publish` (the files of an input that failed half-way); folders stay. */
  async discard(): Promise<void> {
    for (const file of await this.staged()) await rm(join(this.dir, file));
  }

  /** Removes the staging folder (with anything written but not published). */
  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Writes a file whole or not at all: to a temporary name beside it, then renamed over it. */
export async function writeFileAtomically(path: string, data: string | Uint8Array): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, data);
  await rename(temporary, path);
}
