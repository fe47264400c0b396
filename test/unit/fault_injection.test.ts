import test from 'ava';
import { parseRunArgs } from '../../cli/cli.js';
import { ConfigError } from '../../lib/errors.js';
import { describeFiring, faultBeforeSubmit, injectDraw, parseInjectSpec, resetFaultInjection, ruleMatches, serverKillRequest } from '../../lib/fault_injection.js';
import { runJob } from '../../lib/launcher.js';

test('parseInjectSpec: every kind, defaults and separators', (t) => {
  const rules = parseInjectSpec(' kill:rank=2:op=allReduce:seq=40 ; delay:rank=1:ms=250;drop-connection:rank=0:peer=3:op=bcast; exit:code=3:seq=7;');
  t.is(rules.length, 4);
  t.like(rules[0], { index: 1, kind: 'kill', rank: 2, op: 'allReduce', seq: 40, seed: 0, text: 'kill:rank=2:op=allReduce:seq=40' });
  t.like(rules[1], { index: 2, kind: 'delay', rank: 1, op: 'any', ms: 250 });
  t.is(rules[1]!.seq, undefined);
  t.like(rules[2], { kind: 'drop-connection', rank: 0, peer: 3, op: 'bcast' });
  t.like(rules[3], { kind: 'exit', code: 3, seq: 7 });
  t.is(rules[3]!.rank, undefined);
  t.like(parseInjectSpec('delay:ms=1:prob=0.25:seed=9')[0], { prob: 0.25, seed: 9 });
  t.deepEqual(parseInjectSpec(''), []);
  t.deepEqual(parseInjectSpec(' ; '), []);
});

test('parseInjectSpec: errors name the rule and the bad field', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['explode:rank=1', /rule 1 "explode:rank=1": unknown kind "explode"/],
    ['kill:rank=1;kill:rank=x', /rule 2 "kill:rank=x": rank must be an integer .* got "x"/],
    ['kill:rank=-1', /rank must be an integer/],
    ['kill:seq=1.5', /seq must be an integer/],
    ['kill:op=allreduce', /op must be one of allReduce, reduceTo, bcast, allGather, barrier, reduceScatter, allGatherv, sparseAllReduce, sparseReduceScatter, push, pull, clock, any, got "allreduce"/],
    ['kill:rank', /field "rank" is not key=value/],
    ['kill:ms=5', /unknown field "ms" for kill/],
    ['kill:rank=1:rank=2', /field "rank" given twice/],
    ['delay:rank=1', /delay needs ms=N/],
    ['drop-connection:rank=1', /drop-connection needs peer=P/],
    ['drop-connection:rank=1:peer=1', /peer must differ from rank/],
    ['kill:prob=1.5', /prob must be a number in \[0, 1\], got "1.5"/],
    ['kill:prob=', /prob must be a number/],
    ['kill:seed=3', /seed is only meaningful with prob/],
    ['exit:code=256', /code must be an integer in \[0, 255\]/],
  ];
  for (const [spec, re] of cases) {
    const err = t.throws(() => parseInjectSpec(spec), { instanceOf: ConfigError }, spec);
    t.regex(err?.message ?? '', re, spec);
  }
});

test('PS rules: op=push|pull|clock match only that PS call; op=any never matches a PS call; server rules match no worker', (t) => {
  const [push, any, server] = parseInjectSpec('kill:rank=1:op=push:seq=3; delay:ms=5; kill:server=1:request=120');
  t.like(push, { kind: 'kill', rank: 1, op: 'push', seq: 3 });
  t.true(ruleMatches(push!, 1, 'push', 3));
  t.false(ruleMatches(push!, 1, 'push', 2));
  t.false(ruleMatches(push!, 1, 'pull', 3));
  t.false(ruleMatches(push!, 1, 'allReduce', 3), 'a push rule does not fire before a collective with the same seq');
  t.true(ruleMatches(any!, 0, 'barrier', 9));
  t.false(ruleMatches(any!, 0, 'push', 9), 'op=any is every collective, not PS calls');
  t.like(server, { kind: 'kill', server: 1, request: 120 });
  for (const op of ['push', 'allReduce'] as const) t.false(ruleMatches(server!, 1, op, 120));
  t.is(describeFiring(push!, 1, 'push', 3), '[shoal inject] rank 1: kill at push seq 3');
});

test('serverKillRequest: the request of the rule naming this server; none for other servers or a replacement', (t) => {
  const env = { SHOAL_INJECT: 'kill:rank=0:op=clock:seq=1; kill:server=1:request=120' };
  t.is(serverKillRequest(1, env), 120);
  t.is(serverKillRequest(0, env), 0);
  t.is(serverKillRequest(1, { ...env, SHOAL_SERVER_RESTART: '1' }), 0, 'a replacement server runs clean');
  t.is(serverKillRequest(1, {}), 0);
  t.throws(() => serverKillRequest(1, { SHOAL_INJECT: 'kill:server=1' }), { instanceOf: ConfigError, message: /needs both server=K and request=N/ });
});

test('PS and server rules: errors name the rule and the field', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['kill:server=1', /a server rule needs both server=K and request=N/],
    ['kill:request=5', /a server rule needs both server=K and request=N/],
    ['kill:server=1:request=0', /request counts from 1/],
    ['kill:server=1:request=5:rank=2', /field "rank" does not apply to a server rule/],
    ['kill:server=1:request=5:op=push', /field "op" does not apply to a server rule/],
    ['delay:server=1:request=5:ms=3', /server rules are kill rules \(kill:server=K:request=N\), not delay/],
    ['drop-connection:peer=1:op=push', /drop-connection breaks a communicator; it cannot fire before a PS push/],
    ['kill:op=pushh', /op must be one of .*push, pull, clock, any, got "pushh"/],
  ];
  for (const [spec, re] of cases) {
    const err = t.throws(() => parseInjectSpec(spec), { instanceOf: ConfigError }, spec);
    t.regex(err?.message ?? '', re, spec);
  }
});

test('ruleMatches: rank, op and seq', (t) => {
  const [rule] = parseInjectSpec('kill:rank=2:op=allReduce:seq=40');
  t.true(ruleMatches(rule!, 2, 'allReduce', 40));
  t.false(ruleMatches(rule!, 1, 'allReduce', 40));
  t.false(ruleMatches(rule!, 2, 'bcast', 40));
  t.false(ruleMatches(rule!, 2, 'allReduce', 39));
  const [any] = parseInjectSpec('delay:ms=1');
  for (const op of ['allReduce', 'reduceTo', 'bcast', 'allGather', 'barrier'] as const) t.true(ruleMatches(any!, 5, op, 123));
  const [anyOp] = parseInjectSpec('delay:ms=1:op=any:seq=3');
  t.true(ruleMatches(anyOp!, 0, 'barrier', 3));
  t.false(ruleMatches(anyOp!, 0, 'barrier', 4));
});

test('prob: a pure function of (seed, rank, seq) with about the asked rate', (t) => {
  const [rule] = parseInjectSpec('delay:ms=1:prob=0.3:seed=7');
  const fires = (r: number, s: number): boolean => ruleMatches(rule!, r, 'barrier', s);
  let n = 0;
  for (let r = 0; r < 10; r++) for (let s = 0; s < 1000; s++) if (fires(r, s)) n++;
  t.true(n > 2700 && n < 3300, `fired ${n} of 10000`);
  for (let s = 0; s < 200; s++) t.is(fires(3, s), fires(3, s));
  // Different seeds and ranks give different patterns.
  const pattern = (seed: number, rank: number): string => Array.from({ length: 64 }, (_, s) => (injectDraw(seed, rank, s) < 0.5 ? '1' : '0')).join('');
  t.not(pattern(7, 0), pattern(8, 0));
  t.not(pattern(7, 0), pattern(7, 1));
  t.is(pattern(7, 0), pattern(7, 0));
  for (let s = 0; s < 100; s++) {
    const d = injectDraw(123, 4, s);
    t.true(d >= 0 && d < 1);
  }
  const [never] = parseInjectSpec('kill:prob=0:seed=1');
  const [always] = parseInjectSpec('kill:prob=1:seed=1');
  for (let s = 0; s < 100; s++) {
    t.false(ruleMatches(never!, 0, 'allReduce', s));
    t.true(ruleMatches(always!, 0, 'allReduce', s));
  }
});

test('describeFiring: the log line', (t) => {
  const [kill, delay, drop, exit] = parseInjectSpec('kill:rank=2;delay:ms=5;drop-connection:peer=1;exit:code=4');
  t.is(describeFiring(kill!, 2, 'allReduce', 40), '[shoal inject] rank 2: kill at allReduce seq 40');
  t.is(describeFiring(delay!, 0, 'barrier', 1), '[shoal inject] rank 0: delay 5 ms at barrier seq 1');
  t.is(describeFiring(drop!, 0, 'bcast', 2), '[shoal inject] rank 0: drop-connection to rank 1 at bcast seq 2');
  t.is(describeFiring(exit!, 3, 'allGather', 0), '[shoal inject] rank 3: exit 4 at allGather seq 0');
});

test.serial('faultBeforeSubmit: reads SHOAL_INJECT, returns drop-connection actions once, rejects bad specs', (t) => {
  const saved = process.env['SHOAL_INJECT'];
  try {
    delete process.env['SHOAL_INJECT'];
    resetFaultInjection();
    t.is(faultBeforeSubmit(0, 4, 'allReduce', 0), null);
    process.env['SHOAL_INJECT'] = 'drop-connection:rank=1:peer=3:seq=5';
    resetFaultInjection();
    t.is(faultBeforeSubmit(1, 4, 'allReduce', 4), null);
    t.is(faultBeforeSubmit(0, 4, 'allReduce', 5), null);
    const a = faultBeforeSubmit(1, 4, 'allReduce', 5);
    t.like(a, { kind: 'drop-connection', peer: 3 });
    t.regex(a!.reason, /connection to rank 3 dropped \(injected by rule "drop-connection:rank=1:peer=3:seq=5" at allReduce seq 5\)/);
    t.is(faultBeforeSubmit(1, 4, 'allReduce', 5), null, 'fires once');
    process.env['SHOAL_INJECT'] = 'drop-connection:peer=9';
    resetFaultInjection();
    t.throws(() => faultBeforeSubmit(0, 4, 'allReduce', 0), { instanceOf: ConfigError, message: /peer 9 is not a rank of this 4-rank job/ });
    process.env['SHOAL_INJECT'] = 'drop-connection:peer=2';
    resetFaultInjection();
    t.is(faultBeforeSubmit(2, 4, 'barrier', 0), null, 'the peer itself does not drop a connection to itself');
    t.like(faultBeforeSubmit(0, 4, 'barrier', 0), { peer: 2 });
    process.env['SHOAL_INJECT'] = 'kill:rank=zero';
    resetFaultInjection();
    t.throws(() => faultBeforeSubmit(0, 4, 'barrier', 0), { instanceOf: ConfigError, message: /rule 1 "kill:rank=zero": rank must be/ });
    t.throws(() => faultBeforeSubmit(0, 4, 'barrier', 1), { instanceOf: ConfigError }, 'and again at the next op');
  } finally {
    if (saved === undefined) delete process.env['SHOAL_INJECT'];
    else process.env['SHOAL_INJECT'] = saved;
    resetFaultInjection();
  }
});

test('parseRunArgs: --inject is repeatable and checked', (t) => {
  t.is(parseRunArgs(['-np', '2', '--inject', 'kill:rank=1:seq=3', 'node', 'x.mjs']).inject, 'kill:rank=1:seq=3');
  t.is(
    parseRunArgs(['-np', '2', '--inject', 'kill:rank=1:seq=3', '--inject=delay:rank=0:ms=5;exit:rank=1', 'node', 'x.mjs']).inject,
    'kill:rank=1:seq=3;delay:rank=0:ms=5;exit:rank=1',
  );
  t.is(parseRunArgs(['-np', '2', 'node', 'x.mjs']).inject, undefined);
  const err = t.throws(() => parseRunArgs(['-np', '2', '--inject', 'kill:rank=1;delay:rank=0', 'node', 'x.mjs']), { instanceOf: ConfigError });
  t.regex(err?.message ?? '', /^shoal run: --inject: fault injection rule 2 "delay:rank=0": delay needs ms=N/);
});

test('the launcher rejects a bad inject spec before starting ranks', async (t) => {
  await t.throwsAsync(runJob({ np: 1, command: ['node', '-e', ''], inject: 'kill:op=nope', quiet: true, noDashboard: true }), {
    instanceOf: ConfigError,
    message: /op must be one of/,
  });
});
