// `npm install` of Shoal. In a checkout (no dist/ yet) it builds everything from source, as
// `npm run build` does. In an installed tarball it does nothing when the addon ships prebuilt
// for this platform (prebuilds/, see scripts/prebuild.mjs), and otherwise compiles the addon
// as a fallback, which needs cmake-js, node-addon-api, cmake and a C++17 compiler.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const platform = `${process.platform}-${process.arch}`;

function run(command, args) {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (!existsSync(join(root, 'dist', 'index.js'))) {
  run('npm', ['run', 'build']);
} else if (existsSync(join(root, 'prebuilds', platform, 'shoal_native.node')) || existsSync(join(root, 'build', 'Release', 'shoal_native.node'))) {
  // The prebuilt (or an earlier local) addon is used; nothing to compile.
} else {
  let cmakeJs;
  try {
    cmakeJs = join(dirname(fileURLToPath(import.meta.resolve('cmake-js/package.json'))), 'bin', 'cmake-js');
  } catch {
    console.error(`shoal: no prebuilt native addon for ${platform}, and cmake-js is not installed to compile one. ` +
      `Install the build tools (npm install cmake-js node-addon-api; cmake and a C++17 compiler), then run 'npm rebuild shoal'.`);
    process.exit(1);
  }
  run(process.execPath, [cmakeJs, 'compile', '--out', 'build']);
}
