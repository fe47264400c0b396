// Seeded fuzzing of the checkpoint reader (lib/recovery/training_state.ts decodeCheckpoint and
// state_codec.ts decodeState), in process (pure JS: a bad file can only throw):
//  - mutated files (flipped bytes, truncation, extension, overflowing length fields) must all
//    be refused, naming the file: the MAC covers every byte;
//  - files re-signed with the job secret after mutating the job description or the encoded
//    state (a forger holding the secret, or a bug in a writer) reach the decoders, which must
//    return a value or refuse naming the file, and never throw anything else.
import test from 'ava';

import { Rng } from '../helpers/mulberry_rng.js';
import { ConfigError } from '../../lib/errors.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../lib/recovery/training_state.js';
import { decodeState, encodeState } from '../../lib/recovery/state_codec.js';
import { mutate, sameBytes, type CountField } from '../helpers/fuzz_mutations.js';

const FILE = '/ckpt/fuzz/checkpoint.bin';
const META = { algorithm: 'fuzz', c: 1 };
const STATE = {
  iteration: 3,
  w: Float64Array.from({ length: 17 }, (_, i) => i / 3),
  h: new Float32Array([1, -2, Number.NaN]),
  ids: new BigInt64Array([1n, -5n]),
  nested: { a: [1, Number.NEGATIVE_INFINITY, 'x', null, true], b: new Uint8Array([9, 8, 7]) },
};

const join = (parts: Uint8Array[]): Uint8Array => Buffer.concat(parts);

/** The state codec's count fields: the JSON length; the checkpoint's: commits, meta and payload lengths, flags. */
const STATE_COUNTS: CountField[] = [{ at: 8, bytes: 4 }];
const FILE_COUNTS: CountField[] = [{ at: 8, bytes: 8 }, { at: 16, bytes: 4 }, { at: 20, bytes: 8 }, { at: 28, bytes: 4 }];

/** Mutates the numbers and names of the state's JSON header (array offsets, lengths, types). */
function mutateStateJson(rng: Rng, payload: Uint8Array): { bytes: Uint8Array; how: string } {
  const view = Buffer.from(payload);
  const jsonLength = view.readUInt32LE(8);
  const json = view.subarray(12, 12 + jsonLength).toString('utf8');
  const weird = ['-1', '0.5', '1e300', '9007199254740993', '"x"', 'null', '[]', '{"$ta":"Float64Array","o":0,"n":1e9}', '"__proto__"'];
  const tokens = [...json.matchAll(/-?\d+(\.\d+)?|"[^"]*"/g)];
  const pick = tokens[rng.int(tokens.length)]!;
  const replacement = weird[rng.int(weird.length)]!;
  const text = json.slice(0, pick.index) + replacement + json.slice(pick.index! + pick[0].length);
  const head = Buffer.from(text, 'utf8');
  const blobStart = (12 + jsonLength + 7) & ~7;
  const out = Buffer.alloc(((12 + head.length + 7) & ~7) + (payload.length - blobStart));
  out.set(view.subarray(0, 12));
  out.writeUInt32LE(head.length, 8);
  out.set(head, 12);
  out.set(view.subarray(blobStart), (12 + head.length + 7) & ~7);
  return { bytes: out, how: `state JSON ${pick[0]} -> ${replacement}` };
}

function refusedNamingFile(err: unknown): boolean {
  return err instanceof ConfigError && err.message.includes(FILE);
}

for (const [label, env] of [['signed (SHOAL_TOKEN set)', { SHOAL_TOKEN: 'fuzz-secret' }], ['unsigned (no SHOAL_TOKEN)', {}]] as const) {
  test(`checkpoint reader fuzz, ${label}: 3000 mutated files refused naming the file; 3000 re-signed ones decoded or refused, never a crash`, (t) => {
    const rng = new Rng(label.length);
    const payload = encodeState(STATE);
    const metaBytes = Buffer.from(JSON.stringify(META));
    const original = join(encodeCheckpoint(7, metaBytes, payload, env));
    // The unmutated file reads back exactly.
    const back = decodeCheckpoint(original, FILE, META, env);
    t.is(back.commits, 7);
    t.deepEqual(decodeState(back.payload, FILE), STATE);

    const bad: string[] = [];
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const m = mutate(rng, original, FILE_COUNTS);
      if (sameBytes(m.bytes, original)) continue;
      try {
        decodeCheckpoint(m.bytes, FILE, META, env);
        bad.push(`accepted after ${m.how}`);
      } catch (err) {
        if (refusedNamingFile(err)) refused++;
        else bad.push(`${m.how}: ${String(err)}`);
      }
    }
    const outcomes = { decoded: 0, refused: 0 };
    for (let i = 0; i < 3000; i++) {
      const which = rng.int(3);
      const m = which === 0 ? mutate(rng, metaBytes, []) : which === 1 ? mutate(rng, payload, STATE_COUNTS) : mutateStateJson(rng, payload);
      const file = which === 0 ? join(encodeCheckpoint(7, m.bytes, payload, env)) : join(encodeCheckpoint(7, metaBytes, m.bytes, env));
      try {
        const c = decodeCheckpoint(file, FILE, which === 0 ? {} : META, env);
        decodeState(c.payload, FILE);
        outcomes.decoded++;
      } catch (err) {
        if (refusedNamingFile(err)) outcomes.refused++;
        else bad.push(`re-signed, ${m.how}: ${String(err)}`);
      }
    }
    t.deepEqual(bad.slice(0, 20), []);
    t.true(refused > 2900, `refused ${refused}`);
    t.true(outcomes.decoded > 0 && outcomes.refused > 0, JSON.stringify(outcomes));
    t.log(JSON.stringify({ mutatedRefused: refused, resigned: outcomes }));
  });
}
