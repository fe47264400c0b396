// After tsc: make the CLI executable so `npx shoal` and the package's bin work directly.
import { chmodSync, existsSync } from 'node:fs';

const cli = new URL('../dist/cli/cli.js', import.meta.url);
if (existsSync(cli)) chmodSync(cli, 0o755);

// In Shoal's own checkout, `npx shoal` should run this build rather than look for a package
// on the registry: link our bin into node_modules/.bin as npm does for dependencies.
import { lstatSync, mkdirSync, symlinkSync, unlinkSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(new URL('../package.json', import.meta.url)));
if (basename(dirname(root)) !== 'node_modules') {
  const binDir = `${root}/node_modules/.bin`;
  const link = `${binDir}/shoal`;
  try {
    mkdirSync(binDir, { recursive: true });
    try {
      lstatSync(link);
      unlinkSync(link);
    } catch {
      // no previous link
    }
    symlinkSync('../../dist/cli/cli.js', link);
  } catch (err) {
    console.warn(`postbuild: could not link node_modules/.bin/shoal: ${err.message}`);
  }
}
