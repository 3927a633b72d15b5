import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { readRunManifest, runPaths } from '../runs/runDirectory.js';
import { parseValue } from './commandOptions.js';
import { loadConfig } from './config.js';
import { say } from './terminal.js';
import { checkTrainConfig, TRAIN_OPTIONS, type TrainConfig } from './trainOptions.js';

/** Declares the `train` command's options from {@link TRAIN_OPTIONS}. */
export function addTrainOptions(train: Command): Command {
  train.description(
    'train a model streaming from image and label folders (no arguments: a built-in synthetic demo run)',
  );
  for (const spec of TRAIN_OPTIONS) {
    const option = new Option(spec.flags, spec.description);
    if ('choices' in spec) option.choices(spec.choices);
    if (spec.kind !== 'boolean' && spec.kind !== 'string' && spec.kind !== 'named')
      option.argParser(parseValue(spec.kind, spec.flags.split(' ')[0]!));
    if ('default' in spec && !(spec.kind === 'boolean' && spec.default === true))
      option.default(spec.default);
    train.addOption(option);
  }
  return train;
}

/** Settings a resumed run takes from its run.json: all but the ones that say how to start or where. */
const NOT_RESUMED = new Set(['config', 'resume', 'out']);

/**
 * Defaults, then (with --resume) the settings the run in --out was started with, then the config file, then
 * the flags given. Without the run's own settings, `train --out runs/x --resume` would train the default
 * model on the default (synthetic) data and write over the run's checkpoints.
 */
export async function mergedTrainConfig(command: Command): Promise<TrainConfig> {
  const values = command.opts();
  const config: Record<string, unknown> = {};
  for (const spec of TRAIN_OPTIONS) if ('default' in spec) config[spec.key] = spec.default;
  const fromFile = typeof values.config === 'string' ? await loadConfig(values.config) : {};
  const given = TRAIN_OPTIONS.filter((spec) => command.getOptionValueSource(spec.key) === 'cli').map(
    (spec) => spec.key,
  );
  const resume = given.includes('resume') ? values.resume : fromFile.resume;
  const out = given.includes('out') ? values.out : fromFile.out;
  if (resume === true && typeof out === 'string' && existsSync(runPaths(out).manifest)) {
    const { options } = await readRunManifest(out);
    for (const spec of TRAIN_OPTIONS)
      if (!NOT_RESUMED.has(spec.key) && options[spec.key] !== undefined) config[spec.key] = options[spec.key];
    const overridden = [...Object.keys(fromFile), ...given].filter(
      (key) => !NOT_RESUMED.has(key) && options[key] !== undefined,
    );
    say(
      `resuming ${out} with the settings in ${runPaths(out).manifest}${overridden.length > 0 ? `; given again: ${[...new Set(overridden)].join(', ')}` : ''}`,
    );
  }
  Object.assign(config, fromFile);
  for (const key of given) config[key] = values[key];
  delete config.config;
  checkTrainConfig(config);
  return config;
}

/**
 * The configuration `train` would run with for these arguments (after `train`): defaults, then the
 * `--config` file, then the flags. For checking a config without training.
 *
 * @example
 * ```ts
 * const config = await parseTrainConfig(['--config', 'run.yaml', '--epochs', '3']);
 * ```
 */
export async function parseTrainConfig(args: readonly string[]): Promise<TrainConfig> {
  const command = addTrainOptions(new Command('train'))
    .exitOverride()
    .configureOutput({ writeErr: () => undefined });
  command.parse([...args], { from: 'user' });
  return mergedTrainConfig(command);
}
