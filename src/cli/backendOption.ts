/**
 * What `--backend` says in every command's help. It has no default of its own, so that `selectBackend` reads
 * `SEGSTREAM_BACKEND` when the flag is not given (a default of `auto` would hide the variable).
 */
export const BACKEND_OPTION_DESCRIPTION =
  'auto, tensorflow-gpu, webgpu, tensorflow, wasm or cpu (default: SEGSTREAM_BACKEND, else auto)';
