#!/bin/bash
# One shard of a segstream prepare, predict or eval job as a task of a Slurm job array (docs/SCALING.md).
# The arguments are the stream-train command; the shard comes from SLURM_ARRAY_TASK_ID, counted from the
# array's first index, and SLURM_ARRAY_TASK_COUNT. Submit the array, then the merge once every task succeeded:
#
#   jobid=$(sbatch --parsable --array=0-7 docs/slurm-array.sh predict --run runs/unet --images survey/images --out survey/predicted)
#   sbatch --dependency=afterok:$jobid --job-name=segstream-merge --wrap 'npx stream-train merge survey/predicted'
#
# A failed task can be resubmitted alone (sbatch --array=3 ... gives SLURM_ARRAY_TASK_COUNT=1, so pass the
# shard: sbatch --array=3 docs/slurm-array.sh predict ... --shard 3/8); it rewrites the same files. Run from
# the project folder (after npm ci) on a file system every node mounts.
#SBATCH --job-name=segstream-shard
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=04:00:00
#SBATCH --output=segstream-%A_%a.log
set -euo pipefail

if [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then
  echo "slurm-array.sh: submit it as an array job (sbatch --array=0-N-1 ...)" >&2
  exit 2
fi
# The wasm backend uses as many threads as the task has cores.
export SEGSTREAM_WASM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
cd "${SLURM_SUBMIT_DIR:-.}"
exec npx stream-train "$@"
