// Seeded fuzzing of the native PS snapshot reader (test/workers/snapshot_fuzz.worker.ts runs
// it in a child process): thousands of mutated shard files, each refused with an error naming
// the file or, if still well-formed, read with counts that match its bytes. A crash of the
// child (e.g. SIGSEGV) fails the test.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WORKER = fileURLToPath(new URL('../workers/snapshot_fuzz.worker.js', import.meta.url));

function runFuzz(seed: number, cases: number, dir: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [WORKER, String(seed), String(cases), dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

for (const seed of [1, 2]) {
  test(`snapshot reader fuzz, seed ${seed}: 3000 mutated shard files, no crash, every refusal names the file`, async (t) => {
    t.timeout(180_000);
    const dir = mkdtempSync(join(tmpdir(), 'shoal-snapfuzz-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const run = await runFuzz(seed, 3000, dir);
    t.is(run.signal, null, `the fuzzed reader crashed the process (${run.signal})\n${run.stderr}`);
    t.is(run.code, 0, run.stderr);
    const line = run.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    t.truthy(line, run.stdout + run.stderr);
    const r = JSON.parse(line!.slice(7)) as { cases: number; parsed: number; refused: number; changedRefusedByManifest: number; forgedAccepted: number; forgedRefused: number; reasons: Record<string, number>; bad: string[] };
    t.deepEqual(r.bad, []);
    t.is(r.cases, 3000);
    t.is(r.parsed + r.refused, 3000);
    t.is(r.forgedAccepted + r.forgedRefused, 3000);
    // The mutations reach every check, not only the magic: counts that overflow or lie are
    // among the refusals, and byte flips in row data still parse (and only the manifest's
    // SHA-256 tells them from the original).
    for (const why of ['bad magic', 'row count', 'row width', 'name length', 'truncated header', 'SHA-256', 'size vs manifest']) {
      t.true((r.reasons[why] ?? 0) > 0, `no refusal for ${why}: ${JSON.stringify(r.reasons)}`);
    }
    t.true(r.parsed > 0, 'some mutations leave a well-formed file');
    t.true(r.changedRefusedByManifest > 1000);
    t.log(JSON.stringify({ parsed: r.parsed, refused: r.refused, changedRefusedByManifest: r.changedRefusedByManifest, reasons: r.reasons }));
  });
}
