// lib/pipeline.ts: results arrive in source order whatever the stages' timing, the bound on
// items between source and consumer holds (and is reached), a stage's failure names the stage
// and item and leaves nothing running, and cancellation ends every Promise.
import test from 'ava';
import { Pipeline, PipelineCancelledError, PipelineError, range } from '../../lib/pipeline.js';

const tick = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** A deterministic spread of small delays (0..3 ms) per item. */
const jitter = (i: number, salt: number) => ((i * 7 + salt * 13) % 4);

test('results arrive in source order across async stages with concurrency', async (t) => {
  const p = Pipeline.from(range(60), { name: 'order' })
    .stage('double', async (x) => {
      await tick(jitter(x, 1));
      return 2 * x;
    }, { concurrency: 4, depth: 2 })
    .stage('label', (x) => `#${x}`, { depth: 0 })
    .stage('slow-async', async (s) => {
      await tick(jitter(s.length, 2));
      return s;
    }, { concurrency: 3 });
  const got: string[] = [];
  for await (const v of p) got.push(v);
  t.deepEqual(got, Array.from({ length: 60 }, (_, i) => `#${2 * i}`));
  const stats = p.stats();
  t.deepEqual(stats.map((s) => s.name), ['source', 'double', 'label', 'slow-async', 'consumer']);
  for (const s of stats) t.is(s.delivered, 60, s.name);
  t.true(stats[1]!.busyMs > 0);
});

test('back-pressure: items between source and consumer never exceed the bound, and reach it', async (t) => {
  let produced = 0;
  let consumed = 0;
  let maxInFlight = 0;
  let running = 0;
  let maxRunning = 0;
  function* source() {
    for (let i = 0; i < 40; i++) {
      produced++;
      maxInFlight = Math.max(maxInFlight, produced - consumed);
      yield i;
    }
  }
  const p = Pipeline.from(source(), { depth: 1 })
    .stage('keys', (x) => x, { depth: 2 })
    .stage('pull', async (x) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await tick(1);
      running--;
      return x;
    }, { concurrency: 2, depth: 0 });
  // The source holds one item plus its queue of 1; each stage its calls plus its queue.
  t.is(p.bound, 1 + 1 + (1 + 2) + (2 + 0));
  for await (const v of p) {
    t.is(v, consumed++);
    // A slow consumer: everything upstream fills up.
    await tick(3);
  }
  t.true(maxInFlight <= p.bound, `max in flight ${maxInFlight} > bound ${p.bound}`);
  t.true(maxInFlight >= p.bound, `the bound ${p.bound} was never reached (max ${maxInFlight})`);
  t.is(maxRunning, 2);
});

test('a failing stage rejects with the stage name and item index, after every started call settled', async (t) => {
  let running = 0;
  let startedAfterFailure = 0;
  let failed = false;
  const p = Pipeline.from(range(100), { name: 'train' })
    .stage('extract', (x) => x)
    .stage('pull', async (x, ctx) => {
      if (failed) startedAfterFailure++;
      running++;
      try {
        await tick(2);
        if (x === 7) {
          failed = true;
          throw new Error('server 1 lost');
        }
        return x;
      } finally {
        running--;
        t.is(ctx.index, x);
      }
    }, { concurrency: 3 })
    .stage('compute', (x) => x + 1);
  const got: number[] = [];
  const err = await t.throwsAsync(async () => {
    for await (const v of p) got.push(v);
  });
  t.true(err instanceof PipelineError);
  const pe = err as PipelineError;
  t.is(pe.stage, 'pull');
  t.is(pe.index, 7);
  t.regex(pe.message, /pipeline 'train': stage 'pull' failed on item 7: server 1 lost/);
  t.is((pe.cause as Error).message, 'server 1 lost');
  t.is(running, 0, 'calls still running after the pipeline rejected');
  // Items 8 and 9 may have started beside 7 (concurrency 3); nothing starts after the failure.
  t.is(startedAfterFailure, 0);
  t.deepEqual(got, got.map((_, i) => i + 1));
  t.true(got.length <= 7);
});

test('a throwing source and a synchronous throw name their place', async (t) => {
  function* bad() {
    yield 1;
    yield 2;
    throw new Error('file truncated');
  }
  const e1 = await t.throwsAsync(async () => {
    for await (const _ of Pipeline.from(bad()).stage('id', (x) => x)) void _;
  });
  t.is((e1 as PipelineError).stage, 'source');
  t.is((e1 as PipelineError).index, 2);
  const e2 = await t.throwsAsync(async () => {
    for await (const _ of Pipeline.from(range(5)).stage('parse', (x) => {
      if (x === 3) throw new TypeError('bad row');
      return x;
    })) void _;
  });
  t.regex((e2 as Error).message, /stage 'parse' failed on item 3: bad row/);
});

test('breaking out of the loop stops the source and waits for running calls', async (t) => {
  let running = 0;
  let sourceClosed = false;
  async function* source() {
    try {
      for (let i = 0; ; i++) yield i;
    } finally {
      sourceClosed = true;
    }
  }
  const p = Pipeline.from(source()).stage('work', async (x) => {
    running++;
    await tick(2);
    running--;
    return x;
  }, { concurrency: 3, depth: 2 });
  let n = 0;
  for await (const v of p) {
    t.is(v, n++);
    if (n === 5) break;
  }
  t.is(running, 0);
  t.true(sourceClosed);
  t.is(p.stats().at(-1)!.delivered, 5);
});

test('cancel() ends a waiting reader with PipelineCancelledError and settles every call; aborts the signal', async (t) => {
  let running = 0;
  let sawAbort = false;
  const p = Pipeline.from(range(1000)).stage('pull', async (x, ctx) => {
    running++;
    // A long call that stops early on abort (the signal is how a stage cuts its work short).
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 60_000);
      ctx.signal.addEventListener('abort', () => {
        sawAbort = true;
        clearTimeout(timer);
        resolve();
      });
    });
    running--;
    return x;
  }, { concurrency: 2 });
  const it = p[Symbol.asyncIterator]();
  const waiting = it.next();
  await tick(5);
  await p.cancel('the job was stopped');
  t.is(running, 0);
  t.true(sawAbort);
  const err = await t.throwsAsync(waiting);
  t.true(err instanceof PipelineCancelledError);
  t.regex(err!.message, /cancelled: the job was stopped/);
});

test('arguments are checked with the stage named', (t) => {
  t.throws(() => Pipeline.from(range(3)).stage('a', (x) => x, { depth: -1 }), { instanceOf: RangeError, message: /stage 'a': depth must be an integer/ });
  t.throws(() => Pipeline.from(range(3)).stage('a', (x) => x, { concurrency: 0 }), { instanceOf: RangeError, message: /concurrency/ });
  t.throws(() => Pipeline.from(range(3)).stage('a', (x) => x).stage('a', (x) => x), { message: /name is taken/ });
  t.throws(() => Pipeline.from(42 as unknown as number[]), { instanceOf: TypeError });
  const p = Pipeline.from(range(1)).stage('a', (x) => x);
  p[Symbol.asyncIterator]();
  t.throws(() => p[Symbol.asyncIterator](), { message: /read once/ });
});
