// `shoal datagen --id-space 40|64` (lib/data/id_space.ts, lib/data/datagen.ts): ids are in
// [1, 2^bits), distinct features keep distinct ids, each row is the plain data set's row with
// every id spread (same labels, ids sorted), readLibsvm reads the files with hashBits, and
// the flag is parsed and checked.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parseDatagenArgs } from '../../cli/datagen_cli.js';
import { generateDataset } from '../../lib/data/datagen.js';
import { spreadId, ID_SPACE_BITS } from '../../lib/data/id_space.js';
import { readLibsvm } from '../../lib/data/libsvm.js';

const tmp = mkdtempSync(join(tmpdir(), 'shoal-idspace-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

for (const bits of ID_SPACE_BITS) {
  test(`spreadId(${bits}): indices 1..200000 and large ones map to distinct ids in [1, 2^${bits})`, (t) => {
    const seen = new Set<bigint>();
    const top = 1n << BigInt(bits);
    const indices = [...Array.from({ length: 200_000 }, (_, i) => i + 1), 2 ** 32, 2 ** 40 - 1, ...(bits === 64 ? [Number.MAX_SAFE_INTEGER] : [])];
    let above32 = 0;
    for (const k of indices) {
      const id = spreadId(k, bits);
      if (id < 1n || id >= top) t.fail(`index ${k} -> ${id} is out of range`);
      if (id >= 1n << 32n) above32++;
      seen.add(id);
    }
    t.is(seen.size, indices.length, 'two indices share an id');
    // Spread, not clustered: nearly all ids of a 2^40 or 2^64 space are above 2^32.
    t.true(above32 > 0.99 * indices.length, `only ${above32} ids above 2^32`);
    t.is(spreadId(0, bits), 0n);
  });
}

const fields = (line: string): { label: string; ids: bigint[] } => {
  const [label, ...rest] = line.split(' ');
  return { label: label!, ids: rest.map((f) => BigInt(f.slice(0, f.indexOf(':')))) };
};

for (const [task, shape] of [['binary', { rows: 3000, features: 5000, nnz: 12 }], ['ratings', { rows: 3000, users: 400, items: 300 }]] as const) {
  for (const bits of ID_SPACE_BITS) {
    test(`datagen ${task} --id-space ${bits}: each row is the plain row with ids spread, sorted and distinct`, async (t) => {
      const plain = join(tmp, `${task}-plain-${bits}.svm`);
      const spread = join(tmp, `${task}-spread-${bits}.svm`);
      await generateDataset({ task, out: plain, seed: 5, ...shape });
      await generateDataset({ task, out: spread, seed: 5, ...shape, idSpace: bits });
      const a = readFileSync(plain, 'latin1').trim().split('\n');
      const b = readFileSync(spread, 'latin1').trim().split('\n');
      t.is(b.length, a.length);
      const top = 1n << BigInt(bits);
      for (let i = 0; i < a.length; i++) {
        const p = fields(a[i]!);
        const s = fields(b[i]!);
        t.is(s.label, p.label, `row ${i}: label`);
        const want = p.ids.map((id) => spreadId(Number(id), bits)).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
        if (s.ids.join() !== want.join()) t.fail(`row ${i}: ids ${s.ids.join()} want ${want.join()}`);
        for (let k = 0; k < s.ids.length; k++) {
          if (s.ids[k]! < 1n || s.ids[k]! >= top) t.fail(`row ${i}: id ${s.ids[k]} out of range`);
          if (k > 0 && s.ids[k]! <= s.ids[k - 1]!) t.fail(`row ${i}: ids not strictly increasing`);
        }
      }
      const m = await readLibsvm(spread, { hashBits: 24 });
      t.is(m.rowPtr.length - 1, a.length);
    });
  }
}

test('datagen idSpace: rejected for dense/rank and for other widths; the CLI flag', async (t) => {
  await t.throwsAsync(generateDataset({ task: 'dense', out: join(tmp, 'x.svm'), rows: 1, idSpace: 64 }), { message: /task 'dense' \(id spaces apply to tasks 'binary' and 'ratings'\) for 'idSpace'/ });
  await t.throwsAsync(generateDataset({ task: 'binary', out: join(tmp, 'y.svm'), rows: 1, idSpace: 32 as never }), { message: /expected 40 or 64 for 'idSpace'/ });
  t.is(parseDatagenArgs(['--task', 'binary', '--out', 'f', '--id-space', '64']).idSpace, 64);
  t.is(parseDatagenArgs(['--task', 'binary', '--out', 'f', '--id-space', '40']).idSpace, 40);
  t.is(parseDatagenArgs(['--task', 'binary', '--out', 'f']).idSpace, undefined);
  t.throws(() => parseDatagenArgs(['--task', 'binary', '--out', 'f', '--id-space', '32']), { message: /--id-space needs 40 or 64, got "32"/ });
});
