#!/usr/bin/env bash
# npm run pack:gpu: one archive, .gpu-pack/segstream-gpu.tar.xz, that runs bench:train on a linux-x64 GPU
# machine with no Node and no registry: this machine's Node binary, the built dist/ and bin/, the production
# node_modules with other platforms' binaries and everything Node does not load removed, the PyTorch peer,
# run.sh (scripts/gpuBenchRun.sh: the bench), train.sh (scripts/gpuTrainRun.sh: the three architectures
# trained and evaluated on a carried data folder) and stream.sh (scripts/gpuStreamRun.sh: training streamed
# from that folder against batches already in GPU memory). The device tool carries at most 64 MiB, so the size is printed at the end.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
archive="$repo/.gpu-pack/segstream-gpu.tar.xz"
peer="$repo/../shared/bench/ref_unet_torch.py"
cd "$repo"
[ -f "$peer" ] || { echo "packGpuBench: $peer is missing (the PyTorch peer the bench compares with)" >&2; exit 1; }
vulkan=$(/sbin/ldconfig -p | awk '/libvulkan\.so\.1 .*x86-64/ { path = $NF } END { print path }')
[ -n "$vulkan" ] || { echo "packGpuBench: no libvulkan.so.1 here to pack (apt-get install libvulkan1)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
npx tsc -p tsconfig.json

mkdir -p "$stage/runtime/lib" "$stage/bench" "$stage/peers"
cp "$(node -p process.execPath)" "$stage/runtime/node"
cp -L "$vulkan" "$stage/runtime/lib/libvulkan.so.1"
cp package.json "$stage/"
cp bench/*.py "$stage/bench/"
cp "$peer" "$stage/peers/"
cp scripts/gpuBenchRun.sh "$stage/run.sh"
cp scripts/gpuTrainRun.sh "$stage/train.sh"
cp scripts/gpuStreamRun.sh "$stage/stream.sh"
cp scripts/gpuPackEnv.sh "$stage/env.sh"
cp -r bin "$stage/"
# The JPEG binding, where it was built, with the libjpeg it links to beside it (it looks there first).
binding=native/build/Release/segstream_native.node
if [ -f "$binding" ]; then
  mkdir -p "$stage/$(dirname "$binding")"
  cp "$binding" "$stage/$binding"
  cp -L "$(/sbin/ldconfig -p | awk '/libjpeg\.so\.62 .*x86-64/ { path = $NF } END { print path }')" "$stage/$(dirname "$binding")/"
fi
echo "packed from $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes') on $(date -u +%F)" > "$stage/PACKED_FROM"

# Source maps, type declarations, docs and tests: nothing Node loads.
skip=(--exclude='*.map' --exclude='*.d.ts' --exclude='*.d.mts' --exclude='*.d.cts' --exclude='*.ts.map'
  --exclude='README*' --exclude='CHANGELOG*' --exclude='*.markdown' --exclude=test --exclude=tests
  --exclude=__tests__ --exclude=docs --exclude=example --exclude=examples)
tar -c "${skip[@]}" --exclude=dist/test dist | tar -x -C "$stage"

# The packages production needs, tfjs-node and tfjs-node-gpu left out: they load libtensorflow, which they
# download at install and which needs CUDA 11.2; the GPU machine runs webgpu.
prod=':root > .prod:not(#@tensorflow/tfjs-node):not(#@tensorflow/tfjs-node-gpu)'
npm query "$prod, $prod *" |
  node -e 'const found = JSON.parse(require("fs").readFileSync(0, "utf8"));
    // A nested package travels inside the folder of the package that holds it.
    const top = found.map((p) => p.location).filter((l) => l.split("node_modules/").length === 2);
    console.log([...new Set(top)].sort().join("\n"));' > "$stage/packages.txt"
tar -c "${skip[@]}" -T "$stage/packages.txt" | tar -x -C "$stage"
rm "$stage/packages.txt"
modules="$stage/node_modules"
# Type packages only hold declarations.
rm -rf "$modules/@types"
# Dawn's prebuilt binaries for the other platforms, and its build scripts.
find "$modules/webgpu/dist" -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +
rm -rf "$modules/webgpu/build"
# sharp's binaries for the other platforms (npm installs only this one's, but a lockfile may bring more).
find "$modules/@img" -mindepth 1 -maxdepth 1 -name 'sharp-*' ! -name '*-linux-x64' -exec rm -rf {} +
# Each TF.js package ships ES modules and browser bundles besides the one Node loads (package.json's main,
# self-contained); the wasm backend also loads its .wasm files from dist/.
for package in "$modules"/@tensorflow/*; do
  main=$(node -p "require('$package/package.json').main")
  find "$package/dist" -type f ! -path "$package/$main" ! -name '*.wasm' -delete
  find "$package/dist" -type d -empty -delete
done
# OpenLayers: an optional dependency of flatgeobuf for maps in browsers (20 MB); segstream never loads it.
rm -rf "$modules/ol"
# rxjs: Node takes its CommonJS build (exports' "node" condition).
rm -rf "$modules/rxjs/dist/esm" "$modules/rxjs/dist/esm5" "$modules/rxjs/dist/bundles" "$modules/rxjs/src"

mkdir -p "$(dirname "$archive")"
echo "packGpuBench: $(du -sh "$stage" | cut -f1) unpacked; compressing with xz -9"
tar -C "$stage" -c . | xz -9 -T2 > "$archive.partial"
mv "$archive.partial" "$archive"
echo "packGpuBench: $archive, $(du -m "$archive" | cut -f1) MiB ($(stat -c %s "$archive") bytes), node $(node --version)"
