// Parsers of option values, and the options several commands share (train's own are rows of its table).

import { Option } from 'commander';
import { TEST_TIME_AUGMENTATIONS } from '../predict/slidingWindow.js';
import { RUN_CHECKPOINTS } from '../runs/runDirectory.js';
import { BACKEND_OPTION_DESCRIPTION } from './backendOption.js';
import type { TrainOptionSpec } from './trainOptions.js';

/** Reads a flag's value as its kind; the error names the flag and the value. */
export function parseValue(
  kind: TrainOptionSpec['kind'],
  flag: string,
): (value: string, previous: unknown) => unknown {
  switch (kind) {
    case 'integer':
    case 'number':
      return (value) => {
        const number = Number(value);
        if (value.trim() === '' || !Number.isFinite(number))
          throw new RangeError(`${flag} must be a number, got '${value}'`);
        return number;
      };
    case 'list':
      return (value, previous) => [...((previous as string[] | undefined) ?? []), value];
    case 'numbers':
      return (value) => {
        const numbers = value.split(',').map(Number);
        if (numbers.some((n) => !Number.isFinite(n)))
          throw new RangeError(`${flag} must be comma-separated numbers, got '${value}'`);
        return numbers;
      };
    default:
      return (value) => value;
  }
}

/** A numeric flag other than train's (those come from its option table). */
export const numberOption = (flags: string, description: string): Option =>
  new Option(flags, description).argParser(
    parseValue('number', flags.split(' ')[0]!) as (value: string) => number,
  );

/** `--checkpoint`, shared by eval and predict. */
export const checkpointOption = (): Option =>
  new Option(
    '--checkpoint <which>',
    "the run's newest checkpoint, or the one of its best epoch (validation mean IoU; training mean IoU in a run without validation images)",
  )
    .choices(RUN_CHECKPOINTS)
    .default('latest');

/** `--tta`, shared by eval and predict. */
export const testTimeAugmentationOption = (): Option =>
  new Option(
    '--tta <views>',
    'test-time augmentation: average each window over its 4 flips or the 8 symmetries of the square (as many model calls)',
  )
    .choices(TEST_TIME_AUGMENTATIONS)
    .default('none');

/** `--backend`, shared by eval and predict (train's is in its option table). */
export const backendOption = (): Option => new Option('--backend <name>', BACKEND_OPTION_DESCRIPTION);
