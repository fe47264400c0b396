// algorithms/ps_trainer/step_pipeline.ts: the wire order of the PS trainers' pipeline, seen by
// fake requests that log when they are sent and answered. A pull of step j goes out only after
// the clock of step j - 1; with `exclusive` no push goes out while a pull is in flight; pushes
// go out in step order, and the next step's push does not wait for the previous one's answer.
import test from 'ava';
import { PsRequestOrder, PUSHES_IN_FLIGHT, runStepPipeline, type PipelineTimes } from '../../algorithms/ps_trainer/step_pipeline.js';

async function run(exclusive: boolean, steps: number) {
  const log: string[] = [];
  const order = new PsRequestOrder();
  let pullsInFlight = 0;
  let unacked = 0;
  let maxUnacked = 0;
  let pushesWhilePulling = 0;
  let clocks = 0;
  const acks: Array<() => void> = [];
  const times: PipelineTimes = {};
  await runStepPipeline('wire', 0, steps, {
    keys: (step) => step,
    pull: (step) => order.pull(step, async () => {
      log.push(`pull ${step} after ${clocks} clocks`);
      if (step > clocks) throw new Error(`pull ${step} sent before clock ${step - 1}`);
      pullsInFlight++;
      await new Promise((r) => setImmediate(r));
      pullsInFlight--;
      return step;
    }),
    compute: (step) => step,
    push: (step) => order.pushAndClock(exclusive, () => {
      if (pullsInFlight > 0) pushesWhilePulling++;
      log.push(`push ${step}`);
      // The previous push is answered once this one is out (or after 500 ms, if it never comes).
      const previous = acks.shift();
      unacked++;
      maxUnacked = Math.max(maxUnacked, unacked);
      const ack = new Promise<void>((resolve) => {
        const timer = setTimeout(done, 500);
        function done() {
          clearTimeout(timer);
          unacked--;
          resolve();
        }
        acks.push(done);
      });
      previous?.();
      clocks++;
      return [ack, Promise.resolve()];
    }),
  }, order, times);
  return { log, maxUnacked, pushesWhilePulling, times };
}

test('a step that sends only its clock does not wait for the answer; the next push and drain() do, and see its failure', async (t) => {
  const order = new PsRequestOrder();
  let answer!: () => void;
  const clock = new Promise<void>((resolve) => (answer = resolve));
  let settled = false;
  await order.pushAndClock(false, () => [clock]);
  t.is(order.clocksSent, 1, 'resolved while the clock is unanswered');
  const push = order.pushAndClock(false, () => [Promise.resolve(), Promise.resolve()]).then(() => (settled = true));
  await new Promise((r) => setImmediate(r));
  t.false(settled, 'the next push waits for the earlier clock');
  answer();
  await push;
  const failed = Promise.reject(new Error('server lost'));
  await order.pushAndClock(false, () => [failed]);
  await t.throwsAsync(order.drain(), { message: 'server lost' });
});

for (const exclusive of [true, false]) {
  test(`pulls follow the previous clock, pushes go out in order without waiting for the last answer (exclusive ${exclusive})`, async (t) => {
    const steps = 30;
    const r = await run(exclusive, steps);
    const pushes = r.log.filter((l) => l.startsWith('push')).map((l) => Number(l.split(' ')[1]));
    t.deepEqual(pushes, Array.from({ length: steps }, (_, i) => i));
    t.is(r.log.filter((l) => l.startsWith('pull')).length, steps);
    // A push went out while the one before it was unanswered: the acknowledgement is off the critical path.
    t.is(r.maxUnacked, PUSHES_IN_FLIGHT);
    if (exclusive) t.is(r.pushesWhilePulling, 0);
    t.is(r.times['push']!.items, steps);
  });
}
