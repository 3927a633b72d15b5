#!/bin/sh
# run.sh of the GPU bench pack (scripts/packGpuBench.sh puts it at the pack's root): runs bench:train on webgpu
# at batch 16 and 64 against the PyTorch peer on CUDA, with the pack's own Node; it writes inside its folder only.
# Arguments go to dist/bench/train.js after the defaults, so they override them: `run.sh --batch 2 --size 64
# --steps 1` is a short run.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
node="$here/runtime/node"
# shellcheck source=gpuPackEnv.sh
. "$here/env.sh"
# The bench reads its PyTorch peer from ../shared/bench, which only the development machines have.
SEGSTREAM_PEER_DIR="$here/peers"
export SEGSTREAM_PEER_DIR
cd "$here"
echo "pack: node $("$node" --version) (packed), $(cat "$here/PACKED_FROM")"
exec "$node" dist/bench/train.js --backend webgpu --batch 16,64 "$@"
