/** What a WebGPU adapter says about itself (the fields of GPUAdapterInfo that segstream reads). */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  /** The driver's own line, e.g. "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)" or "NVIDIA: 550.54.15". */
  description: string;
  isFallbackAdapter?: boolean;
}

/** Names of the CPU rasterizers that present themselves as GPUs: Mesa's llvmpipe/lavapipe/softpipe, SwiftShader, Windows' WARP. */
const SOFTWARE_RENDERER = /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render|\bwarp\b/i;

/**
 * Whether an adapter runs on the CPU: WebGPU's fallback flag where the implementation sets it, else Dawn's
 * "software" architecture or a software renderer's name in any field.
 */
export function isSoftwareAdapter(info: AdapterDescription): boolean {
  if (info.isFallbackAdapter) return true;
  if (info.architecture.toLowerCase() === 'software') return true;
  return [info.vendor, info.device, info.description].some((field) => SOFTWARE_RENDERER.test(field));
}

/** One line naming an adapter: vendor, device, driver, and "software" where it runs on the CPU. */
export function describeAdapter(info: AdapterDescription): string {
  const device = [info.vendor || 'unknown vendor', info.device || info.architecture || 'unknown device'].join(
    ' ',
  );
  const kind = isSoftwareAdapter(info) ? ', software' : '';
  return `${device} (driver ${info.description || 'unknown'}${kind})`;
}
