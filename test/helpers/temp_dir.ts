// A test's scratch directory under the OS temp dir, removed when the test ends (pass or fail),
// so a suite run leaves nothing behind in /tmp.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh `$TMPDIR/<prefix>XXXXXX` that `t`'s teardown deletes. */
export function tempDir(t: { teardown(f: () => void): void }, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
