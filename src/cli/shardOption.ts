// `--shard i/N` of prepare, predict and eval, and its default from the array-job variables of the
// schedulers users already run (docs/SCALING.md).

import { Option } from 'commander';
import { checkShard, type Shard } from '../util/shard.js';

/**
 * The shard count where the scheduler gives an index only: a Kubernetes Indexed Job (set it to the Job's
 * `completions`) or an AWS Batch array job (set it to the array size).
 */
export const SHARD_COUNT_VARIABLE = 'SEGSTREAM_SHARD_COUNT';

/** `--shard INDEX/COUNT`, 0-based: `0/3`, `1/3`, `2/3`. */
export function parseShardFlag(value: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(value.trim());
  if (!match)
    throw new RangeError(`--shard must be INDEX/COUNT with a 0-based index, such as 0/3, got '${value}'`);
  return checkShard({ index: Number(match[1]), count: Number(match[2]) }, `--shard ${value}`);
}

/** A variable's value as a whole number; the error names the variable. */
function wholeNumber(env: NodeJS.ProcessEnv, name: string): number {
  const value = env[name] ?? '';
  if (!/^\d+$/.test(value.trim())) throw new RangeError(`${name} must be a whole number, got '${value}'`);
  return Number(value);
}

/**
 * The shard the environment assigns, or undefined where no array-job index is set. Looked for in order:
 * JOB_COMPLETION_INDEX (Kubernetes Indexed Job) with SEGSTREAM_SHARD_COUNT; SLURM_ARRAY_TASK_ID less
 * SLURM_ARRAY_TASK_MIN (so `--array=1-3` counts from 0 too) with SLURM_ARRAY_TASK_COUNT; and
 * AWS_BATCH_JOB_ARRAY_INDEX with SEGSTREAM_SHARD_COUNT.
 *
 * @throws RangeError naming the variable that is missing or bad.
 */
export function shardFromEnvironment(env: NodeJS.ProcessEnv): Shard | undefined {
  const count = (name: string): number => {
    if (env[name] === undefined)
      throw new RangeError(`${name} must give the shard count beside the scheduler's index`);
    return wholeNumber(env, name);
  };
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    const shard = { index: wholeNumber(env, 'JOB_COMPLETION_INDEX'), count: count(SHARD_COUNT_VARIABLE) };
    return checkShard(
      shard,
      `JOB_COMPLETION_INDEX=${env.JOB_COMPLETION_INDEX}, ${SHARD_COUNT_VARIABLE}=${env[SHARD_COUNT_VARIABLE]}`,
    );
  }
  if (env.SLURM_ARRAY_TASK_ID !== undefined) {
    const first = env.SLURM_ARRAY_TASK_MIN === undefined ? 0 : wholeNumber(env, 'SLURM_ARRAY_TASK_MIN');
    const shard = {
      index: wholeNumber(env, 'SLURM_ARRAY_TASK_ID') - first,
      count: count('SLURM_ARRAY_TASK_COUNT'),
    };
    return checkShard(
      shard,
      `SLURM_ARRAY_TASK_ID=${env.SLURM_ARRAY_TASK_ID} (from SLURM_ARRAY_TASK_MIN=${first}), SLURM_ARRAY_TASK_COUNT=${env.SLURM_ARRAY_TASK_COUNT}`,
    );
  }
  if (env.AWS_BATCH_JOB_ARRAY_INDEX !== undefined) {
    const shard = {
      index: wholeNumber(env, 'AWS_BATCH_JOB_ARRAY_INDEX'),
      count: count(SHARD_COUNT_VARIABLE),
    };
    return checkShard(
      shard,
      `AWS_BATCH_JOB_ARRAY_INDEX=${env.AWS_BATCH_JOB_ARRAY_INDEX}, ${SHARD_COUNT_VARIABLE}=${env[SHARD_COUNT_VARIABLE]}`,
    );
  }
  if (env[SHARD_COUNT_VARIABLE] !== undefined)
    throw new RangeError(
      `${SHARD_COUNT_VARIABLE} is set but no shard index is (JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID or AWS_BATCH_JOB_ARRAY_INDEX)`,
    );
  return undefined;
}

/** The shard a command runs: the flag's, else the environment's; undefined when the command runs whole. */
export const resolveShard = (
  flag: Shard | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Shard | undefined => flag ?? shardFromEnvironment(env);

/** `--shard`, shared by prepare, predict and eval. */
export const shardOption = (): Option =>
  new Option(
    '--shard <index/count>',
    `do only this share of the work, 0-based (0/3, 1/3, 2/3; images round-robin in sorted order) and write a manifest for \`merge\`; default from JOB_COMPLETION_INDEX + ${SHARD_COUNT_VARIABLE}, SLURM_ARRAY_TASK_ID + SLURM_ARRAY_TASK_COUNT or AWS_BATCH_JOB_ARRAY_INDEX + ${SHARD_COUNT_VARIABLE}`,
  ).argParser(parseShardFlag);
