# env.sh of the GPU pack (scripts/packGpuBench.sh puts it at the pack's root), sourced by run.sh and train.sh
# with `here` set to the pack's folder: the environment both run the pack's Node in.
# Children that look for `node` on the PATH find the pack's, whatever the machine has or lacks.
PATH="$here/runtime:$PATH"
# Dawn wants a runtime folder; the machine's may be absent (containers) or not ours to write.
XDG_RUNTIME_DIR="$here/.xdg-runtime"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export PATH XDG_RUNTIME_DIR
# The Vulkan loader Dawn opens: the machine's (it finds the NVIDIA driver), else the packed one.
if ! { /sbin/ldconfig -p || ldconfig -p; } 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  LD_LIBRARY_PATH="$here/runtime/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH
fi
