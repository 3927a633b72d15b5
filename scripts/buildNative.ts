// Builds segstream's native binding (native/: JPEG through the system's libjpeg-turbo, glibc's malloc
// thresholds, augmentation's flips and turns; see src/util/nativeBinding.ts) with node-gyp, as `npm ci` and
// `npm install` do through the prepare script. Optional: where the C compiler or libjpeg's headers (Debian:
// libjpeg62-turbo-dev) are missing, it says so in one line and exits 0, and segstream decodes JPEG with
// sharp, leaves malloc as it is and flips and turns tiles in JavaScript. Run it through npm (`npm run build:native`), which puts its node-gyp on the PATH and points it at the
// installed Node's headers.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const folder = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'native');
const nodeGyp = process.env.npm_config_node_gyp;
const build = nodeGyp
  ? spawnSync(process.execPath, [nodeGyp, 'rebuild'], { cwd: folder, encoding: 'utf8' })
  : spawnSync('node-gyp', ['rebuild'], { cwd: folder, encoding: 'utf8' });
if (build.status === 0) {
  console.log('native binding built (JPEG with libjpeg-turbo, malloc thresholds, flips and turns)');
} else {
  const output = `${build.stdout ?? ''}${build.stderr ?? ''}`;
  const reason =
    build.error?.message ??
    output
      .split('\n')
      .find(
        (line) =>
          /error|not found|No such file/i.test(line) &&
          !/^gyp ERR! (stack|System|command|cwd|node)/.test(line),
      ) ??
    `node-gyp exited with ${build.status}`;
  console.log(`native binding not built (${reason.trim()}); JPEG is decoded with sharp`);
}
