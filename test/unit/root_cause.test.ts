// rootCause (lib/launcher.ts): which of a job's failures the summary and the exit status name.
import test from 'ava';
import { rootCause, type RankExit } from '../../lib/launcher.js';

const victim = (rank: number): RankExit => ({ rank, code: 1, signal: null });  // an uncaught PeerLostError

test('a rank the launcher ended for silence is named even when its victims were reaped first', (t) => {
  const silent: RankExit = { rank: 1, code: null, signal: 'SIGKILL', cause: 'made no progress (no heartbeat for 10000 ms) and was killed by the launcher' };
  t.is(rootCause([victim(0), victim(2), silent]), silent);
});

test('a rank killed by a signal or exiting with another code outranks the code-1 victims', (t) => {
  const killed: RankExit = { rank: 2, code: null, signal: 'SIGKILL' };
  const exited: RankExit = { rank: 3, code: 5, signal: null };
  t.is(rootCause([victim(0), killed, exited]), killed);
  t.is(rootCause([victim(0), exited, killed]), exited);
});

test('among victims alone, the first reaped', (t) => {
  const first = victim(2);
  t.is(rootCause([first, victim(0)]), first);
});
