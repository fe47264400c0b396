// The job secret and the files it signs: a checkpoint of another job (another SHOAL_TOKEN),
// an unsigned one under a secret and a signed one without a secret are refused, saying how
// to proceed; `shoal train --checkpoint` without SHOAL_TOKEN says so up front.
import test from 'ava';

import { ConfigError } from '../../lib/errors.js';
import { checkpointSecretNote, defaultRecoveryArgs } from '../../lib/recovery/recovery_flags.js';
import { encodeState } from '../../lib/recovery/state_codec.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../lib/recovery/training_state.js';

const FILE = '/ckpt/secret/checkpoint.bin';
const join = (parts: Uint8Array[]): Uint8Array => Buffer.concat(parts);

test('a checkpoint signed with another secret, an unsigned one under a secret, and a signed one without a secret are refused, saying how to proceed', (t) => {
  const parts = (env: NodeJS.ProcessEnv): Uint8Array => join(encodeCheckpoint(1, Buffer.from('{}'), encodeState({ x: 1 }), env));
  t.throws(() => decodeCheckpoint(parts({ SHOAL_TOKEN: 'job A' }), FILE, {}, { SHOAL_TOKEN: 'job B' }), {
    instanceOf: ConfigError,
    message: `--resume: ${FILE} was written by another job or with another secret, or was changed since (its HMAC-SHA256 does not verify with this job's SHOAL_TOKEN): run with the SHOAL_TOKEN of the job that wrote it (shoal run keeps a SHOAL_TOKEN set in its environment)`,
  });
  t.throws(() => decodeCheckpoint(parts({}), FILE, {}, { SHOAL_TOKEN: 'job B' }), { message: /is unsigned \(written by a job without SHOAL_TOKEN\) and this job has a secret/ });
  t.throws(() => decodeCheckpoint(parts({ SHOAL_TOKEN: 'job A' }), FILE, {}, {}), { message: /is signed with a job secret and this job has none: run it with SHOAL_TOKEN set/ });
  t.is(decodeCheckpoint(parts({ SHOAL_TOKEN: 'job A' }), FILE, {}, { SHOAL_TOKEN: 'job A' }).commits, 1);
});

test('checkpointSecretNote: only for --checkpoint/--resume without SHOAL_TOKEN', (t) => {
  const args = { ...defaultRecoveryArgs(), checkpoint: 'ck' };
  t.regex(checkpointSecretNote(args, {}) ?? '', /SHOAL_TOKEN is not set: this job gets a random one, so a later --resume cannot verify its checkpoints/);
  t.regex(checkpointSecretNote({ ...defaultRecoveryArgs(), resume: 'ck' }, {}) ?? '', /Set the same SHOAL_TOKEN for both runs/);
  t.is(checkpointSecretNote(args, { SHOAL_TOKEN: 's' }), null);
  t.is(checkpointSecretNote(defaultRecoveryArgs(), {}), null);
});
