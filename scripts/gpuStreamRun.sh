#!/bin/sh
# stream.sh of the GPU pack (scripts/packGpuBench.sh puts it beside run.sh): bench:streaming's section (a) with
# bench:train's UNet on webgpu: training streamed from the xBD files against the same batches already in GPU
# memory, at each batch size given (default 16 and 64). BENCH_STEPS and BENCH_ROUNDS shorten it.
# usage: stream.sh DATA_DIR [BATCH ...]   (DATA_DIR holds images/ and labels/)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=$(cd "$1" && pwd)
shift
[ $# -gt 0 ] || set -- 16 64
# shellcheck source=gpuPackEnv.sh
. "$here/env.sh"
SEGSTREAM_BACKEND="${SEGSTREAM_BACKEND:-webgpu}"
SEGSTREAM_XBD_DIR="$data"
BENCH_MODEL=bench
export SEGSTREAM_BACKEND SEGSTREAM_XBD_DIR BENCH_MODEL
cd "$here"
echo "pack: $(cat "$here/PACKED_FROM"); data $data; backend $SEGSTREAM_BACKEND"
for batch in "$@"; do
  BENCH_BATCH="$batch" "$here/runtime/node" dist/bench/streaming.js --sections a ||
    echo "stream.sh: batch $batch failed"
done
