// `npm run check:cycles`: the folder rule of docs/ARCHITECTURE.md. Data flows one way through src/'s
// folders, so no file may import itself round a loop and no folder may depend on a folder that depends on it.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-file-cycle',
      severity: 'error',
      comment: 'A file reaches itself through its imports (type-only imports count too).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-folder-cycle',
      severity: 'error',
      scope: 'folder',
      comment: 'A folder depends on a folder that depends back on it.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'root-files-import-no-folder',
      severity: 'error',
      comment:
        'src/errors.ts and src/types.ts are the vocabulary every folder shares, so they import no folder: a cycle through ' +
        'them would not show as a folder cycle (src/ holds the folders). src/index.ts, the public entry, imports them all.',
      from: { path: '^src/[^/]+[.]ts$', pathNot: '^src/index[.]ts$' },
      to: { path: '^src/[^/]+/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    // The TypeScript 7 compiler has no JavaScript API for dependency-cruiser to parse with; swc reads type-only imports too.
    parser: 'swc',
  },
};
