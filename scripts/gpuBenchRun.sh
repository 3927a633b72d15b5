#!/bin/sh
# run.sh of the GPU bench pack (scripts/packGpuBench.sh puts it at the pack's root): runs bench:train on webgpu
# at batch 16 and 64 against the PyTorch peer on CUDA, with the pack's own Node; it writes inside its folder only.
# Arguments go to dist/bench/train.js after the defaults, so they override them: `run.sh --batch 2 --size 64
# --steps 1` is a short run.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
node="$here/runtime/node"
# Children that look for `node` on the PATH find this one, whatever the machine has or lacks.
PATH="$here/runtime:$PATH"
# Dawn wants a runtime folder; the machine's may be absent (containers) or not ours to write.
XDG_RUNTIME_DIR="$here/.xdg-runtime"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
# The bench reads its PyTorch peer from ../shared/bench, which only the development machines have.
SEGSTREAM_PEER_DIR="$here/peers"
export PATH XDG_RUNTIME_DIR SEGSTREAM_PEER_DIR
# The Vulkan loader Dawn opens: the machine's (it finds the NVIDIA driver), else the packed one.
if ! { /sbin/ldconfig -p || ldconfig -p; } 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  LD_LIBRARY_PATH="$here/runtime/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH
fi
cd "$here"
echo "pack: node $("$node" --version) (packed), $(cat "$here/PACKED_FROM")"
exec "$node" dist/bench/train.js --backend webgpu --batch 16,64 "$@"
