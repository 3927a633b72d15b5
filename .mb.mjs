import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter();
const device = await adapter.requestDevice();
const module = device.createShaderModule({ code: `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
struct U { n: i32, s: vec4<i32> };
@group(0) @binding(2) var<uniform> u: U;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (i32(g.x) < u.n) { out[g.x] = a[g.x] * 2.0; } }` });
const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
const out = device.createBuffer({ size: 4096, usage: GPUBufferUsage.STORAGE });
const a = device.createBuffer({ size: 4096, usage: GPUBufferUsage.STORAGE });
const uniforms = Array.from({length: 600}, () => device.createBuffer({ size: 32, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }));
const data = new Int32Array([256, 0, 0, 0, 1, 2, 3, 4]);
const N = 600;
const layout = pipeline.getBindGroupLayout(0);
function run(mode) {
  const t = {};
  const time = (k, f) => { const s = performance.now(); const r = f(); t[k] = (t[k] ?? 0) + performance.now() - s; return r; };
  const start = performance.now();
  let encoder = device.createCommandEncoder();
  let pass = encoder.beginComputePass();
  for (let i = 0; i < N; i++) {
    time('writeBuffer', () => device.queue.writeBuffer(uniforms[i], 0, data.buffer, 0, 32));
    const l = time('getBindGroupLayout', () => mode.cachedLayout ? layout : pipeline.getBindGroupLayout(0));
    const bg = time('createBindGroup', () => device.createBindGroup({ layout: l, entries: [{ binding: 0, resource: { buffer: out } }, { binding: 1, resource: { buffer: a } }, { binding: 2, resource: { buffer: uniforms[i], offset: 0, size: 32 } }] }));
    time('record', () => { pass.setPipeline(pipeline); pass.setBindGroup(0, bg); pass.dispatchWorkgroups(4, 1, 1); });
    if ((i + 1) % 15 === 0) time('submit', () => { pass.end(); device.queue.submit([encoder.finish()]); encoder = device.createCommandEncoder(); pass = encoder.beginComputePass(); });
  }
  pass.end(); device.queue.submit([encoder.finish()]);
  t.total = performance.now() - start;
  return t;
}
for (let r = 0; r < 8; r++) {
  const t = run({ cachedLayout: r % 2 === 1 });
  await device.queue.onSubmittedWorkDone();
  console.log(r % 2 ? 'cached' : 'fresh ', Object.entries(t).map(([k, v]) => `${k} ${(v * 1000 / N).toFixed(1)}us`).join('  '));
}
process.exit(0);
