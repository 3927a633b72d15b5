"""PyTorch peer of `npm run bench:quality`: trains segstream's default UNet recipe the way a PyTorch user
would write it, then predicts the held-out images for segstream's scorer.

Recipe (segstream's `train` defaults with --base-filters 16): UNet with depth 3 (4 levels of 16-128 filters),
two 3x3 conv + BatchNorm (momentum 0.1, eps 1e-5) + ReLU per level, 2x2 max pooling, 2x2 stride-2 transposed
convs up, skip concatenation [up, skip], 1x1 conv to the classes. Init as segstream's: TF.js' heNormal (truncated
normal of std sqrt(2 / fan_in)) for the 3x3 and transposed convs, TF.js' default glorotNormal (truncated normal of
std sqrt(2 / (fan_in + fan_out))) for the 1x1, zero biases; or, with `initialWeights`, segstream's own initial
weights of the seed, checked against the logits segstream computed for one tile. Pixels / 255.
Tiles: the non-overlapping grid of `tile` px over each training image, every tile in memory, reshuffled each
epoch (DataLoader shuffle), each drawn with a left-right flip, a top-bottom flip (each p=1/2) and 0-3 quarter
turns. Cross-entropy ignoring label 255, Adam (lr, betas 0.9/0.999, eps 1e-7 as segstream's), constant rate.
Prediction: the same tile grid over each held-out image, written as a class-index PNG.

Needs Debian's python3-torch and python3-opencv. usage: python3 quality_unet_torch.py JOB.json
JOB: {trainImages: [[image, mask], ...], heldOut: [[id, image], ...], outDir, seed, epochs, batch, tile,
      classes, baseFilters, depth, learningRate, threads, initialWeights?, drawSeed?}
`seed` sets the initial weights and, without `drawSeed`, the tile order and augmentation draws too; with
`drawSeed`, those draws start from it once the model is built (the bench's draws other than 0).
Prints per-epoch lines and, last, one JSON line: {epochs: [{loss, seconds}], peakRssMiB}."""
import json, math, os, resource, sys, time
import cv2, numpy as np, torch, torch.nn as nn

job = json.load(open(sys.argv[1]))
torch.set_num_threads(job['threads']); torch.manual_seed(job['seed']); np.random.seed(job['seed'])
T, C = job['tile'], job['classes']


def truncated_normal_(w, std):
    nn.init.trunc_normal_(w, 0.0, std, -2 * std, 2 * std)  # TF.js truncates at two deviations, no variance correction


def block(i, o):
    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o, eps=1e-5, momentum=0.1), nn.ReLU(inplace=True),
                         nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o, eps=1e-5, momentum=0.1), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(s, base, depth, classes):
        super().__init__()
        widths = [base * 2 ** k for k in range(depth + 1)]
        s.down = nn.ModuleList(); i = 3
        for o in widths: s.down.append(block(i, o)); i = o
        s.up = nn.ModuleList(); s.dec = nn.ModuleList()
        for o in reversed(widths[:-1]): s.up.append(nn.ConvTranspose2d(i, o, 2, 2)); s.dec.append(block(2 * o, o)); i = o
        s.head = nn.Conv2d(i, classes, 1); s.pool = nn.MaxPool2d(2)
        for m in s.modules():
            if isinstance(m, nn.Conv2d) and m is not s.head: truncated_normal_(m.weight, math.sqrt(2 / (m.in_channels * 9)))
            if isinstance(m, nn.ConvTranspose2d): truncated_normal_(m.weight, math.sqrt(2 / (m.out_channels * 4)))  # Keras' fan_in of a transposed kernel
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)): nn.init.zeros_(m.bias)
        truncated_normal_(s.head.weight, math.sqrt(2 / (s.head.in_channels + s.head.out_channels)))

    def forward(s, x):
        skips = []
        for k, d in enumerate(s.down):
            x = d(x)
            if k < len(s.down) - 1: skips.append(x); x = s.pool(x)
        for u, d in zip(s.up, s.dec): x = d(torch.cat([u(x), skips.pop()], 1))
        return s.head(x)


def load_initial_weights(model, path):
    """segstream's initial weights by layer name (TF.js layouts: conv [kh, kw, in, out], transposed conv
    [kh, kw, out, in]), then the check: the logits of segstream's check tile, in inference mode."""
    meta = json.load(open(path + '.json')); values = np.fromfile(path + '.bin', np.float32)
    named = {w['name']: values[w['offset']:w['offset'] + math.prod(w['shape'])].reshape(w['shape']) for w in meta['weights']}
    used = set()

    def take(name):
        used.add(name); return torch.from_numpy(np.ascontiguousarray(named[name]))

    def conv(m, name):  # both layouts become PyTorch's by the same axis order: [in|out, out|in, kh, kw]
        m.weight.data.copy_(take(name + '/kernel').permute(3, 2, 0, 1)); m.bias.data.copy_(take(name + '/bias'))

    def bn(m, name):
        m.weight.data.copy_(take(name + '/gamma')); m.bias.data.copy_(take(name + '/beta'))
        m.running_mean.copy_(take(name + '/moving_mean')); m.running_var.copy_(take(name + '/moving_variance'))

    def block(b, prefix):
        conv(b[0], prefix + '_conv1'); bn(b[1], prefix + '_bn1'); conv(b[3], prefix + '_conv2'); bn(b[4], prefix + '_bn2')

    depth = len(model.up)
    for k, d in enumerate(model.down): block(d, f'down{k}' if k < depth else 'bottleneck')
    for j, (u, d) in enumerate(zip(model.up, model.dec)):
        level = depth - 1 - j; conv(u, f'up{level}_upconv'); block(d, f'up{level}')
    conv(model.head, 'logits')
    if used != set(named): raise SystemExit(f'{path}: weights not mapped: {sorted(set(named) - used)}')
    model.eval()
    with torch.no_grad():
        tile = torch.tensor(meta['check']['input'], dtype=torch.float32).reshape(1, T, T, 3).permute(0, 3, 1, 2)
        logits = model(tile).permute(0, 2, 3, 1).reshape(-1).numpy()
    expected = np.array(meta['check']['logits'], np.float32); error = np.abs(logits - expected).max()
    if error > 1e-4 * max(1.0, np.abs(expected).max()): raise SystemExit(f'{path}: logits differ from segstream\'s by {error}')
    print(f'initial weights: segstream\'s, logits equal to {error:.1e}', flush=True)
    model.train()


def read_rgb(path):
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None: raise SystemExit(f'{path}: not a readable image')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def grid(h, w):
    return [(y, x) for y in range(0, h, T) for x in range(0, w, T)]


def padded(a, y, x, fill):
    out = np.full((T, T) + a.shape[2:], fill, a.dtype); part = a[y:y + T, x:x + T]
    out[:part.shape[0], :part.shape[1]] = part
    return out


images, masks = [], []
for image_path, mask_path in job['trainImages']:
    image = read_rgb(image_path); mask = cv2.imread(mask_path, cv2.IMREAD_UNCHANGED)
    for y, x in grid(*mask.shape):
        images.append(padded(image, y, x, 0)); masks.append(padded(mask, y, x, 255))
images = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()  # uint8 [N, 3, T, T]
masks = torch.from_numpy(np.stack(masks).astype(np.int64))
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, masks), batch_size=job['batch'], shuffle=True)

model = UNet(job['baseFilters'], job['depth'], C)
if job.get('initialWeights'): load_initial_weights(model, job['initialWeights'])
if 'drawSeed' in job: torch.manual_seed(job['drawSeed']); np.random.seed(job['drawSeed'])
optimizer = torch.optim.Adam(model.parameters(), lr=job['learningRate'], betas=(0.9, 0.999), eps=1e-7)
loss_fn = nn.CrossEntropyLoss(ignore_index=255)


def augment(x, y):
    """Per tile, as segstream draws them: flips, then quarter turns, the same for image and mask."""
    xs, ys = [], []
    for xi, yi in zip(x, y):
        if np.random.rand() < 0.5: xi, yi = xi.flip(-1), yi.flip(-1)
        if np.random.rand() < 0.5: xi, yi = xi.flip(-2), yi.flip(-2)
        k = np.random.randint(4); xi, yi = torch.rot90(xi, k, (-2, -1)), torch.rot90(yi, k, (-2, -1))
        xs.append(xi); ys.append(yi)
    return torch.stack(xs), torch.stack(ys)


epochs = []
for epoch in range(job['epochs']):
    model.train(); started = time.time(); total = 0.0; steps = 0
    for x, y in loader:
        x, y = augment(x, y)
        optimizer.zero_grad(); loss = loss_fn(model(x.float() / 255), y); loss.backward(); optimizer.step()
        total += loss.item(); steps += 1
    epochs.append({'loss': total / steps, 'seconds': time.time() - started})
    print(f'epoch {epoch + 1}: loss {total / steps:.4f} ({epochs[-1]["seconds"]:.0f} s)', flush=True)

model.eval(); os.makedirs(job['outDir'], exist_ok=True)
with torch.no_grad():
    for image_id, image_path in job['heldOut']:
        image = read_rgb(image_path); h, w = image.shape[:2]; classes = np.zeros((h, w), np.uint8)
        for y, x in grid(h, w):
            tile = torch.from_numpy(padded(image, y, x, 0)).permute(2, 0, 1)[None].float() / 255
            predicted = model(tile)[0].argmax(0).numpy().astype(np.uint8)
            classes[y:y + T, x:x + T] = predicted[:min(T, h - y), :min(T, w - x)]
        cv2.imwrite(os.path.join(job['outDir'], f'{image_id}.png'), classes)
print(json.dumps({'epochs': epochs, 'peakRssMiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
