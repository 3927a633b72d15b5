/**
 * One of `count` processes that split a job between them (`--shard index/count`); `index` is 0-based,
 * as Kubernetes' JOB_COMPLETION_INDEX and AWS Batch's AWS_BATCH_JOB_ARRAY_INDEX are.
 */
export interface Shard {
  index: number;
  count: number;
}

/** The whole job in one process. */
export const WHOLE_JOB: Shard = { index: 0, count: 1 };

/** `i-of-N`, the form shard file names take. */
export const shardName = (shard: Shard): string => `${shard.index}-of-${shard.count}`;

/**
 * Checks a shard: whole numbers, `count` >= 1 and `index` in [0, count). `source` names where the values
 * came from (the flag or the environment variables), so the error says what to fix.
 *
 * @throws RangeError naming `source` and the bad value.
 */
export function checkShard(shard: Shard, source: string): Shard {
  const { index, count } = shard;
  if (!Number.isSafeInteger(count) || count < 1)
    throw new RangeError(`${source}: the shard count must be a whole number >= 1, got ${count}`);
  if (!Number.isSafeInteger(index) || index < 0 || index >= count)
    throw new RangeError(
      `${source}: the shard index must be a whole number in [0, ${count - 1}] (0-based), got ${index}`,
    );
  return shard;
}

/**
 * The items a shard takes from the whole job's list: round-robin, item k to shard k mod count. With the list
 * sorted, every process computes the same assignment without talking to the others, and each shard gets a
 * spread of the list (neighbouring files, often from one region and of one size, go to different shards).
 *
 * @example
 * shardItems(['a', 'b', 'c', 'd', 'e'], { index: 1, count: 2 }) // ['b', 'd']
 */
export function shardItems<T>(items: readonly T[], shard: Shard): T[] {
  return items.filter((_, k) => k % shard.count === shard.index);
}
