#!/bin/sh
# train.sh of the GPU pack (scripts/packGpuBench.sh puts it beside run.sh): trains each architecture on an xBD
# folder pair at the original work's schedule (UNet 30 epochs and Pix2Pix 4 epochs of batch 64, focal Tversky;
# DeepLabV3+ 25 epochs) on webgpu, then evaluates it at full size on the run's test split.
# usage: train.sh DATA_DIR RUNS_DIR [unet|pix2pix|deeplabv3plus ...]   (DATA_DIR holds images/ and labels/)
# The settings are variables, so that a short check is `EPOCHS_SCALE=0.1 train.sh ...` or `BATCH=8 ...`;
# SEGSTREAM_BACKEND=wasm runs the same on the CPU.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=$(cd "$1" && pwd)
mkdir -p "$2"
runs=$(cd "$2" && pwd)
shift 2
[ $# -gt 0 ] || set -- unet pix2pix deeplabv3plus
batch="${BATCH:-64}"
scale="${EPOCHS_SCALE:-1}"
epochs() { "$here/runtime/node" -p "Math.max(1, Math.round($1 * $scale))"; }
# The architecture's own flags and the original work's epochs for it; fails for an unknown name.
arch_settings() {
  case "$1" in
    unet) echo "--arch unet --base-filters 16 --depth 4 --epochs $(epochs 30)" ;;
    pix2pix) echo "--arch pix2pix --base-filters 16 --discriminator-filters 16 --epochs $(epochs 4)" ;;
    deeplabv3plus) echo "--arch deeplabv3plus --backbone 50 --backbone-width 16 --head-filters 64 --epochs $(epochs 25)" ;;
    *) return 1 ;;
  esac
}
# Every name is checked before the first (hours-long) run starts.
for arch in "$@"; do
  arch_settings "$arch" > /dev/null ||
    { echo "train.sh: unknown architecture $arch (unet, pix2pix, deeplabv3plus)" >&2; exit 2; }
done
# shellcheck source=gpuPackEnv.sh
. "$here/env.sh"
SEGSTREAM_BACKEND="${SEGSTREAM_BACKEND:-webgpu}"
export SEGSTREAM_BACKEND
stream_train() { "$here/runtime/node" "$here/bin/stream-train" "$@"; }
echo "pack: $(cat "$here/PACKED_FROM"); data $data; batch $batch; epochs x$scale; backend $SEGSTREAM_BACKEND"
# The xBD table's loss (focal Tversky, false negatives weighted 0.7, absent classes skipped).
printf '{"loss": {"name": "focalTversky", "alpha": 0.7, "beta": 0.3, "skipAbsentClasses": true}}\n' > "$runs/loss.json"
for arch in "$@"; do
  settings=$(arch_settings "$arch")
  # The xBD table's split (seed 1).
  common="--images $data/images --labels $data/labels --classes xbd --tile-size 256 --batch-size $batch
    --schedule cosine --seed 1 --checkpoint-every 100 --out $runs/gpu-$arch"
  started=$(date +%s)
  # One architecture failing (out of GPU memory, a kernel the backend lacks) leaves the others to run.
  # shellcheck disable=SC2086
  if stream_train train $settings $common --config "$runs/loss.json" &&
    stream_train eval --run "$runs/gpu-$arch" --split test; then
    echo "train.sh: $arch trained and evaluated in $(($(date +%s) - started)) s"
  else
    echo "train.sh: $arch failed after $(($(date +%s) - started)) s" >&2
  fi
done
