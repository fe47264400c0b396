// After tsc: make the CLI executable so `npx shoal` and the package's bin work directly.
import { chmodSync, existsSync } from 'node:fs';

const cli = new URL('../dist/lib/cli.js', import.meta.url);
if (existsSync(cli)) chmodSync(cli, 0o755);
