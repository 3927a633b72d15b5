import type { ReadLabelMask } from '../operators/readLabelledImages.js';

/**
 * The labels module's mask reader. Loaded on first use so that commands which read no labels (`compare`,
 * `predict`, `--help`) start without it.
 */
export async function loadLabelReader(): Promise<ReadLabelMask> {
  // A variable specifier: the labels module lands separately; the CLI must build without it.
  const specifier = '../labels/readLabelMask.js';
  try {
    const labels = (await import(specifier)) as { readLabelMask?: ReadLabelMask };
    if (typeof labels.readLabelMask === 'function') return labels.readLabelMask;
  } catch (error) {
    throw new Error(`reading label files needs the labels module (src/labels/readLabelMask.ts): ${(error as Error).message}`, { cause: error });
  }
  throw new Error('the labels module has no readLabelMask export');
}
