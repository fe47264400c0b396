// The PS snapshot decoder under fuzzing, in a child process so that a crash (a segfault in
// native code) fails the test instead of taking the test runner down:
// `node snapshot_fuzz.worker.js SEED CASES DIR`. Each case mutates a valid shard file
// (test/helpers/fuzz_mutations.ts) and feeds it to the native reader three ways:
//  - inspectPsShard(file): the structure parser alone;
//  - verifyPsSnapshot with the original file's size and SHA-256 (the manifest's view): the
//    changed file must be refused;
//  - verifyPsSnapshot with the mutated file's own size and SHA-256 (a file forged by someone
//    holding the job secret): it reaches the parser through the real load path.
// Every refusal must be an error naming the file. Prints one `RESULT {json}` line.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Rng } from '../helpers/mulberry_rng.js';
import { native } from '../../lib/native.js';
import { mutate, sameBytes, type CountField } from '../helpers/fuzz_mutations.js';
import { encodeShardFile, NAME_BYTES_OFFSET, rowsOffset, sha256Hex, SPEC_OFFSET, withRowCount } from '../helpers/ps_snapshot_files.js';

const snapshot = native as unknown as {
  inspectPsShard(path: string): { table: string; rows: number; rowFloats: number; dim: number };
  verifyPsSnapshot(listing: string): void;
};

const [seedText = '1', casesText = '2000', dir = '/tmp'] = process.argv.slice(2);
const rng = new Rng(Number(seedText));
const cases = Number(casesText);
mkdirSync(dir, { recursive: true });
const path = join(dir, 'fuzz.0.shard');

const row = (k: number, n: number): [bigint, number[]] => [BigInt(k) * 0x9e3779b97f4a7c15n % (1n << 64n), Array.from({ length: n }, (_, j) => k + j / 4)];
const bases = [
  encodeShardFile('w', 3, 'add', Array.from({ length: 5 }, (_, i) => row(i + 1, 3))),
  encodeShardFile('emb%2fuser', 2, 'adagrad', Array.from({ length: 9 }, (_, i) => row(i + 7, 4))),
  encodeShardFile('b', 1, 'add', []),
];
// The count fields of each base: dim, nameBytes, row count, row width.
const countsOf = (file: Uint8Array): CountField[] => [
  { at: SPEC_OFFSET, bytes: 4 },
  { at: NAME_BYTES_OFFSET, bytes: 4 },
  { at: rowsOffset(file), bytes: 8 },
  { at: rowsOffset(file) + 8, bytes: 4 },
];

const outcome = { cases: 0, parsed: 0, refused: 0, changedRefusedByManifest: 0, forgedAccepted: 0, forgedRefused: 0, reasons: {} as Record<string, number>, bad: [] as string[] };
const reason = (message: string): string =>
  /bad magic/.test(message) ? 'bad magic' : /format version/.test(message) ? 'version' : /table name of/.test(message) ? 'name length' :
  /has rows of/.test(message) ? 'row width' : /invalid spec|consistency model/.test(message) ? 'spec' : /says it holds/.test(message) ? 'row count' :
  /truncated/.test(message) ? 'truncated header' : /manifest says/.test(message) ? 'size vs manifest' : /SHA-256/.test(message) ? 'SHA-256' : 'other';

/** Runs fn; a refusal must be an Error naming `path`. Returns whether it was accepted. */
function check(what: string, how: string, fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    if (!(err instanceof Error) || !message.includes(path)) outcome.bad.push(`${what} after ${how}: ${message}`);
    outcome.reasons[reason(message)] = (outcome.reasons[reason(message)] ?? 0) + 1;
    if (reason(message) === 'other') outcome.bad.push(`unclassified refusal after ${how}: ${message}`);
    return false;
  }
}

const listing = (bytes: Uint8Array, sha: string): string => `${dir}\n${sha} ${bytes.length} fuzz.0.shard\n`;
for (let i = 0; i < cases; i++) {
  const base = bases[i % bases.length]!;
  // Case 0 is the crafted file that used to crash every server: an overflowing row count.
  const m = i === 0 ? { bytes: withRowCount(base, 1n << 61n), how: 'rows = 2^61, no rows' } : mutate(rng, base, countsOf(base));
  writeFileSync(path, m.bytes);
  outcome.cases++;
  const parsed = check('inspectPsShard', m.how, () => {
    const s = snapshot.inspectPsShard(path);
    // Accepted: the counts must describe exactly the bytes there are.
    if (rowsOffset(m.bytes) + 12 + s.rows * (8 + 4 * s.rowFloats) !== m.bytes.length) outcome.bad.push(`accepted inconsistent counts after ${m.how}: ${JSON.stringify(s)}`);
  });
  if (parsed) outcome.parsed++;
  else outcome.refused++;
  if (!sameBytes(m.bytes, base)) {
    if (check('verifyPsSnapshot (manifest of the original)', m.how, () => snapshot.verifyPsSnapshot(listing(base, sha256Hex(base))))) {
      outcome.bad.push(`a changed file passed the manifest's checks after ${m.how}`);
    } else {
      outcome.changedRefusedByManifest++;
    }
  }
  const forged = check('verifyPsSnapshot (forged manifest)', m.how, () => snapshot.verifyPsSnapshot(listing(m.bytes, sha256Hex(m.bytes))));
  if (forged !== parsed) outcome.bad.push(`the load path and the parser disagree after ${m.how}`);
  if (forged) outcome.forgedAccepted++;
  else outcome.forgedRefused++;
}
outcome.bad = outcome.bad.slice(0, 20);
process.stdout.write(`RESULT ${JSON.stringify(outcome)}\n`);
