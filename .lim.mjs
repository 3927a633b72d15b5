import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const a = await create([]).requestAdapter();
console.log(a.limits.maxStorageBuffersPerShaderStage, a.limits.maxBindingsPerBindGroup, a.limits.maxStorageBufferBindingSize, a.limits.maxUniformBuffersPerShaderStage);
process.exit(0)
