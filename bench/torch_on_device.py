"""Runs a PyTorch peer script unchanged on a chosen device (the shared peers take no device option).
usage: python3 torch_on_device.py DEVICE PEER.py [peer arguments...]
DEVICE: cpu, cuda, or auto (cuda where PyTorch sees a GPU, else cpu). Prints 'peer device: D (name)' first.
A GPU needs PyTorch 2.0 or later (torch.set_default_device)."""
import runpy, sys, time
import torch

device, script = sys.argv[1], sys.argv[2]
if device == 'auto':
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
if device != 'cpu':
    # Every tensor and parameter the peer creates lands on the device without the peer naming it.
    torch.set_default_device(device)
    # CUDA queues kernels and returns at once: the peer reads time.time() around its timed loops, so each read
    # first waits for the queued work, or it would time the launches only.
    wall_clock = time.time
    def synchronized_time():
        torch.cuda.synchronize()
        return wall_clock()
    time.time = synchronized_time
print(f'peer device: {device} ({torch.cuda.get_device_name() if device != "cpu" else "CPU"})', flush=True)
sys.argv = [script, *sys.argv[3:]]
runpy.run_path(script, run_name='__main__')
