import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const a = await create(['backend=null']).requestAdapter();
console.log(a.info.vendor, a.info.architecture, a.info.device, a.info.description, a.info.type, a.features.size, a.limits.maxStorageBuffersPerShaderStage);
const d = await a.requestDevice();
console.log(!!d);
process.exit(0);
