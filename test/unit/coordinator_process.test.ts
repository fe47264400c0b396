// The launcher's handle on the coordinator process: a job whose ranks never dial the coordinator
// can finish while its process is still booting; closing it then is the normal end of the job,
// so `ready` must not turn into "the coordinator was killed before it was ready" (CI saw a
// `shoal run` of two echo ranks exit 1 that way).
import test from 'ava';

import { CoordinatorProcess } from '../../lib/coordinator_process.js';

const options = { host: '127.0.0.1', port: 0, token: 'a'.repeat(64), dashboard: false, log: () => undefined };

test('close() before the coordinator is ready resolves ready instead of failing the job', async (t) => {
  t.timeout(20_000);
  const cp = await CoordinatorProcess.start(options);
  const pid = cp.pid();
  t.truthy(pid);
  // At once: its Node process cannot have booted and bound its port yet.
  await cp.close();
  await t.notThrowsAsync(cp.ready);
  t.throws(() => process.kill(pid!, 0), { code: 'ESRCH' });
});

test('a coordinator that is killed before it is ready, with nobody closing it, still rejects ready naming the signal', async (t) => {
  t.timeout(20_000);
  const cp = await CoordinatorProcess.start(options);
  try {
    process.kill(cp.pid()!, 'SIGKILL');
    await t.throwsAsync(cp.ready, { message: /coordinator process killed by SIGKILL before it was ready/ });
  } finally {
    await cp.close();
  }
});
