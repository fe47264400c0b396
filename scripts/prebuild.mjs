// `npm pack` (prepack): puts the compiled addon where an installed package looks for it,
// prebuilds/<platform>-<arch>/shoal_native.node (lib/native.ts), so that
// `npm install --ignore-scripts shoal-x.y.z.tgz` needs no compiler. The addon uses N-API
// (NAPI_VERSION 8), so one file serves every Node version >= the engines field.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const built = join(root, 'build', 'Release', 'shoal_native.node');
const dist = join(root, 'dist', 'index.js');
for (const [file, how] of [[built, 'npm run build:native'], [dist, 'npm run build:ts']]) {
  if (!existsSync(file)) {
    console.error(`prebuild: ${file} is missing; run '${how}' (or 'npm run build') before npm pack`);
    process.exit(1);
  }
}
const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
mkdirSync(dir, { recursive: true });
copyFileSync(built, join(dir, 'shoal_native.node'));
console.error(`prebuild: ${join(dir, 'shoal_native.node')}`);
