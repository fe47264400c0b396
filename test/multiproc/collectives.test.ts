// Every collective, dtype and reduce op across world sizes 1-7 with edge counts, run as real
// processes through the launcher. Each rank checks its own results against a reference;
// the test checks that every rank succeeded and that all ranks hold identical result bits.
import test from 'ava';

import { runRanks } from '../helpers/run_job.js';

function digests(output: string[][]): string[] {
  return output.map((lines) => lines.find((l) => l.startsWith('DIGEST '))?.slice(7) ?? 'missing');
}

async function sweep(t: import('ava').ExecutionContext, np: number, spec: object, env: Record<string, string> = {}): Promise<void> {
  const run = await runRanks(np, 'workers/collectives.worker.js', [JSON.stringify(spec)], { env, wallTimeoutMs: 150_000 });
  t.false(run.timedOut, 'job hit the wall-clock limit');
  t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`);
  const d = digests(run.stdout);
  t.is(new Set(d).size, 1, `ranks disagree on result bits: ${d.join(' ')}`);
  t.not(d[0], 'missing');
}

for (const np of [1, 2, 3, 4, 5, 7]) {
  test(`collectives, np=${np}: every dtype x op, counts 0, 1, size-1, size+1, odd`, async (t) => {
    t.timeout(180_000);
    const counts = [...new Set([0, 1, Math.max(np - 1, 0), np + 1, 4099])];
    await sweep(t, np, { counts });
  });
}

test('collectives, np=3: ring and chain paths with tiny segments, frames and socket buffers', async (t) => {
  t.timeout(180_000);
  // Everything above 0 bytes takes the large-message algorithms, messages span many frames,
  // and 4 KiB socket buffers force partial reads and writes.
  await sweep(t, 3, { counts: [1, 2, 3, 4, 1000, 33333] }, {
    SHOAL_SMALL_MESSAGE_BYTES: '0',
    SHOAL_SEGMENT_BYTES: '64',
    SHOAL_MAX_FRAME_BYTES: '1024',
    SHOAL_SOCKET_BUFFER_BYTES: '4096',
  });
});

for (const np of [2, 4]) {
  test(`collectives, np=${np}: 64 MiB float32 allReduce is exact and bit-identical`, async (t) => {
    t.timeout(180_000);
    await sweep(t, np, { counts: [], big: 16 << 20 });
  });
}

for (const np of [3, 5]) {
  test(`split, np=${np}: sub-communicators by color, ordered by key, independent of the parent`, async (t) => {
    t.timeout(120_000);
    const run = await runRanks(np, 'workers/split.worker.js', [], { wallTimeoutMs: 90_000 });
    t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`);
    for (const lines of run.stdout) {
      const r = JSON.parse(lines.find((l) => l.startsWith('RESULT '))!.slice(7)) as Record<string, number>;
      t.is(r['subRank'], r['expectedRank']);
      t.is(r['subSize'], r['expectedSize']);
      t.is(r['sum'], r['want']);
      t.is(r['inThird'], r['rank'] === 0 ? 0 : np - 1);
      t.is(r['worldSum'], np);
    }
  });
}
