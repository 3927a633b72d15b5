/**
 * Errors for bad input. Every error names the file it concerns and what is wrong with it, so that a
 * user looking at one line of output knows which file to fix.
 */
export class InputError extends Error {
  override readonly name = 'InputError';
  /** The file that is at fault (image, label or config), as given by the user. */
  readonly file: string;
  /** What is wrong, without the file name. */
  readonly problem: string;

  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super(`${file}: ${problem}`, options);
    this.file = file;
    this.problem = problem;
  }
}

/** What to do with an item whose input is bad: stop the run, or skip it and report it at the end. */
export type BadInputPolicy = 'throw' | 'skip';

/** One skipped item. */
export interface SkippedItem {
  file: string;
  problem: string;
  /** The training epochs (from 0) it was skipped in, where a stream that reads it every epoch says so. */
  epochs?: number[];
}

/** Where skipped items go: a `SkipReport`, or a view of one that adds the epoch. */
export interface SkipSink {
  add(error: InputError, epoch?: number): void;
}

/**
 * Collects the items a run skipped under the `skip` policy, so the run can end by saying how many were
 * skipped and why. Nothing is dropped without passing through here.
 */
export class SkipReport implements SkipSink {
  readonly items: SkippedItem[] = [];
  readonly #byFile = new Map<string, SkippedItem>();

  /**
   * Records a skipped file once: meeting it again (a later epoch reads the same file) adds the epoch, and
   * the problem only when it is worded differently (a decoder may describe the same damage in other words
   * on a second read: libvips said 'libpng read error', then 'Unknown error').
   */
  add(error: InputError, epoch?: number): void {
    let item = this.#byFile.get(error.file);
    if (!item) {
      item = { file: error.file, problem: error.problem };
      this.#byFile.set(error.file, item);
      this.items.push(item);
    } else if (!item.problem.split('; ').includes(error.problem)) {
      item.problem += `; ${error.problem}`;
    }
    if (epoch !== undefined && !item.epochs?.includes(epoch)) (item.epochs ??= []).push(epoch);
  }

  /** A view that records every item with this epoch (for a stream that does not know the run's epoch). */
  inEpoch(epoch: number): SkipSink {
    return { add: (error) => this.add(error, epoch) };
  }

  get count(): number {
    return this.items.length;
  }

  /** Counts per problem, for a summary line. */
  byProblem(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const { problem } of this.items) counts.set(problem, (counts.get(problem) ?? 0) + 1);
    return counts;
  }

  /** A human-readable summary: a count line and one line per skipped file, with its epochs counted from 1. */
  toString(): string {
    if (this.count === 0) return 'skipped 0 items';
    const lines = [`skipped ${this.count} item${this.count === 1 ? '' : 's'}:`];
    for (const { file, problem, epochs } of this.items) {
      const when = epochs
        ? ` (epoch${epochs.length === 1 ? '' : 's'} ${epochs.map((e) => e + 1).join(', ')})`
        : '';
      lines.push(`  ${file}: ${problem}${when}`);
    }
    return lines.join('\n');
  }
}

/**
 * Applies a bad-input policy to an error: rethrows it under `throw` (or when it is not an input error),
 * records it under `skip`.
 */
export function handleBadInput(error: unknown, policy: BadInputPolicy, report: SkipSink | undefined): void {
  if (policy === 'skip' && error instanceof InputError) {
    report?.add(error);
    return;
  }
  throw error;
}
