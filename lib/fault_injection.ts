// Fault injection for users' own tests (docs/fault_injection.md). `shoal run --inject SPEC`
// (or the SHOAL_INJECT environment variable) holds rules `kind:key=value:...` separated by ';'.
// Every rank parses them on its first collective; Communicator#submit calls
// faultBeforeSubmit() right before it hands an op of the world communicator to the engine,
// and PsClient calls faultBeforePsCall() before each push, pull and clock; a matching rule
// kills, delays, exits or breaks the rank there. Decisions are pure functions of (rule, world
// rank, op, seq): the same spec fires at the same places every run. Rules with `server=K`
// are for parameter server K: server_main passes their request number to the native server,
// which kills itself when it receives that request (serverKillRequest()).

import { writeSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { OP_KIND, type OpName } from './native.js';
import { fmix32 } from './rng.js';

export const INJECT_KINDS = ['kill', 'delay', 'drop-connection', 'exit'] as const;
export type InjectKind = (typeof INJECT_KINDS)[number];
/** Parameter-server calls a worker's rule can fire before (each has its own seq). */
export const PS_INJECT_OPS = ['push', 'pull', 'clock'] as const;
export type PsInjectOp = (typeof PS_INJECT_OPS)[number];
/** What a rule can fire before: a collective or a PS call. */
export type InjectPoint = OpName | PsInjectOp;
export type InjectOp = InjectPoint | 'any';

export function isPsInjectOp(op: string): op is PsInjectOp {
  return (PS_INJECT_OPS as readonly string[]).includes(op);
}

export interface InjectRule {
  /** The rule as written, for messages. */
  text: string;
  /** 1-based position in the spec. */
  index: number;
  kind: InjectKind;
  /** World rank that fires the rule; undefined: every rank. */
  rank?: number;
  /** Op name, or 'any' (the default: every collective, no PS call). */
  op: InjectOp;
  /** Sequence number on the world communicator (of that PS call for push/pull/clock); undefined: every matching op. */
  seq?: number;
  /** A server rule: the parameter server index that dies. */
  server?: number;
  /** Server rules: the request (1 = its first) at which the server dies. */
  request?: number;
  /**
   * Server rules: for this many requests before it dies, the server sends none of its push
   * forwards to the replicas (as if they were lost with it), so the pushes it acknowledged
   * early exist only on it and on the workers that keep them.
   */
  unreplicated?: number;
  /** Fire with this probability per (seed, rank, seq); undefined: always. */
  prob?: number;
  /** Seed of the `prob` decision (default 0). */
  seed: number;
  /** delay: milliseconds to sleep. */
  ms?: number;
  /** drop-connection: the world rank whose connection drops. */
  peer?: number;
  /** exit: the exit code (default 1). */
  code?: number;
}

/** What #submit must do itself (the other kinds act inside faultBeforeSubmit). */
export interface DropConnectionAction {
  kind: 'drop-connection';
  peer: number;
  reason: string;
}

const COMMON_KEYS = ['rank', 'op', 'seq', 'prob', 'seed', 'server', 'request', 'unreplicated'] as const;
/** The keys a server rule (server=K) may have. */
const SERVER_RULE_KEYS = ['server', 'request', 'unreplicated'];
const KIND_KEYS: Record<InjectKind, readonly string[]> = {
  kill: [],
  delay: ['ms'],
  'drop-connection': ['peer'],
  exit: ['code'],
};
const OPS: readonly string[] = [...Object.keys(OP_KIND), ...PS_INJECT_OPS, 'any'];

/**
 * Parses a fault-injection spec: rules `kind:key=value:...` separated by ';' (empty rules
 * are ignored, so a trailing ';' is fine).
 * @example parseInjectSpec('kill:rank=2:op=allReduce:seq=40; delay:rank=1:ms=200')
 * @throws {ConfigError} naming the rule and the bad field.
 */
export function parseInjectSpec(spec: string): InjectRule[] {
  const rules: InjectRule[] = [];
  const texts = spec.split(';').map((s) => s.trim());
  let index = 0;
  for (const text of texts) {
    if (text === '') continue;
    rules.push(parseRule(text, ++index));
  }
  return rules;
}

function parseRule(text: string, index: number): InjectRule {
  const fail = (what: string): ConfigError => new ConfigError('ERR_CONFIG', `fault injection rule ${index} ${JSON.stringify(text)}: ${what}`);
  const [kindText = '', ...fields] = text.split(':').map((s) => s.trim());
  if (!(INJECT_KINDS as readonly string[]).includes(kindText)) {
    throw fail(`unknown kind ${JSON.stringify(kindText)} (expected ${INJECT_KINDS.join(', ')})`);
  }
  const kind = kindText as InjectKind;
  const rule: InjectRule = { text, index, kind, op: 'any', seed: 0 };
  const allowed = [...COMMON_KEYS, ...KIND_KEYS[kind]];
  const seen = new Set<string>();
  for (const field of fields) {
    const eq = field.indexOf('=');
    if (eq <= 0) throw fail(`field ${JSON.stringify(field)} is not key=value`);
    const key = field.slice(0, eq).trim();
    const value = field.slice(eq + 1).trim();
    if (!allowed.includes(key)) throw fail(`unknown field ${JSON.stringify(key)} for ${kind} (allowed: ${allowed.join(', ')})`);
    if (seen.has(key)) throw fail(`field ${JSON.stringify(key)} given twice`);
    seen.add(key);
    const int = (max = Number.MAX_SAFE_INTEGER): number => {
      if (!/^\d+$/.test(value) || Number(value) > max) throw fail(`${key} must be an integer in [0, ${max}], got ${JSON.stringify(value)}`);
      return Number(value);
    };
    switch (key) {
      case 'rank': rule.rank = int(); break;
      case 'seq': rule.seq = int(); break;
      case 'seed': rule.seed = int(0xffffffff); break;
      case 'ms': rule.ms = int(2_147_483_647); break;
      case 'peer': rule.peer = int(); break;
      case 'code': rule.code = int(255); break;
      case 'server': rule.server = int(); break;
      case 'request': rule.request = int(); break;
      case 'unreplicated': rule.unreplicated = int(); break;
      case 'op':
        if (!OPS.includes(value)) throw fail(`op must be one of ${OPS.join(', ')}, got ${JSON.stringify(value)}`);
        rule.op = value as InjectOp;
        break;
      case 'prob': {
        const p = Number(value);
        if (value === '' || !Number.isFinite(p) || p < 0 || p > 1) throw fail(`prob must be a number in [0, 1], got ${JSON.stringify(value)}`);
        rule.prob = p;
        break;
      }
    }
  }
  if (seen.has('seed') && !seen.has('prob')) throw fail('seed is only meaningful with prob');
  if (seen.has('server') || seen.has('request') || seen.has('unreplicated')) {
    if (kind !== 'kill') throw fail(`server rules are kill rules (kill:server=K:request=N), not ${kind}`);
    if (!seen.has('server') || !seen.has('request')) throw fail('a server rule needs both server=K and request=N');
    if (rule.request === 0) throw fail('request counts from 1 (the server\'s first request)');
    const other = [...seen].find((k) => !SERVER_RULE_KEYS.includes(k));
    if (other) throw fail(`field ${JSON.stringify(other)} does not apply to a server rule`);
  }
  if (kind === 'drop-connection' && isPsInjectOp(rule.op)) throw fail(`drop-connection breaks a communicator; it cannot fire before a PS ${rule.op}`);
  if (kind === 'delay' && rule.ms === undefined) throw fail('delay needs ms=N');
  if (kind === 'drop-connection') {
    if (rule.peer === undefined) throw fail('drop-connection needs peer=P');
    if (rule.rank !== undefined && rule.rank === rule.peer) throw fail(`peer must differ from rank, got ${rule.peer}`);
  }
  return rule;
}

/** A number in [0, 1) that depends only on (seed, rank, seq): the `prob` decision. */
export function injectDraw(seed: number, rank: number, seq: number): number {
  let h = fmix32((seed >>> 0) ^ 0x9e3779b9);
  h = fmix32(h ^ Math.imul(rank + 1, 0x27d4eb2d));
  h = fmix32(h ^ Math.imul((seq % 0x100000000) + 1, 0x165667b1));
  h = fmix32(h ^ Math.floor(seq / 0x100000000));
  return h / 0x100000000;
}

/** Whether `rule` fires on world rank `rank` right before submitting `op` with sequence number `seq`. */
export function ruleMatches(rule: InjectRule, rank: number, op: InjectPoint, seq: number): boolean {
  if (rule.server !== undefined) return false;  // a server's rule
  if (rule.rank !== undefined && rule.rank !== rank) return false;
  // 'any' is every collective; PS calls only match rules that name them.
  if (rule.op === 'any' ? isPsInjectOp(op) : rule.op !== op) return false;
  if (rule.seq !== undefined && rule.seq !== seq) return false;
  if (rule.prob !== undefined && !(injectDraw(rule.seed, rank, seq) < rule.prob)) return false;
  return true;
}

/** The message a rank prints (to stderr) when it fires a rule. */
export function describeFiring(rule: InjectRule, rank: number, op: InjectPoint, seq: number): string {
  const what =
    rule.kind === 'delay' ? `delay ${rule.ms} ms` :
    rule.kind === 'drop-connection' ? `drop-connection to rank ${rule.peer}` :
    rule.kind === 'exit' ? `exit ${rule.code ?? 1}` :
    'kill';
  return `[shoal inject] rank ${rank}: ${what} at ${op} seq ${seq}`;
}

/** Environment variable holding the spec (`shoal run --inject` sets it for every rank). */
export const INJECT_ENV = 'SHOAL_INJECT';
/** Set by the launcher on a replacement process: how many restarts the job has had (lib/launcher.ts). */
export const RESTART_ENV = 'SHOAL_RESTART';

/** Read once per process (reading process.env on every op would cost the small collectives). */
let loaded: { spec: string | undefined; rules: InjectRule[] } | null = null;
/** Rules that end the process or break the communicator fire at most once per process. */
const fired = new Set<InjectRule>();
const announced = new Set<InjectRule>();

function rulesFromEnv(): InjectRule[] {
  if (loaded === null) {
    const spec = process.env[INJECT_ENV];
    // A replacement started by `--max-restarts` runs clean: re-firing the rule that killed its
    // predecessor would only burn the restart budget.
    const replacement = Number(process.env[RESTART_ENV] ?? 0) > 0;
    // A bad spec throws on every op, not just the first.
    loaded = { spec, rules: spec === undefined || replacement ? [] : parseInjectSpec(spec) };
  }
  return loaded.rules;
}

function sleepBlocking(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * @internal Called by Communicator#submit right before an op of the world communicator is
 * submitted. Kills, exits or sleeps (blocking the JS thread, like a long computation would)
 * when a rule matches; returns the drop-connection the caller must apply, if any.
 * @throws {ConfigError} when SHOAL_INJECT does not parse or names ranks outside the world.
 */
export function faultBeforeSubmit(rank: number, size: number, op: OpName, seq: number): DropConnectionAction | null {
  return fireRules(rank, size, op, seq);
}

/**
 * @internal Called by PsClient before push, pull and clock (`seq`: that call's number on
 * this worker, 0 first). Kills, exits or sleeps when a rule names the call.
 */
export function faultBeforePsCall(rank: number, op: PsInjectOp, seq: number): void {
  fireRules(rank, Number.MAX_SAFE_INTEGER, op, seq);
}

/**
 * The request at which parameter server `server` must kill itself (kill:server=K:request=N),
 * or 0. A replacement server (SHOAL_SERVER_RESTART > 0) runs clean, like a replacement rank.
 * @throws {ConfigError} when SHOAL_INJECT does not parse.
 */
export function serverKillRequest(server: number, env: NodeJS.ProcessEnv = process.env): number {
  const spec = env[INJECT_ENV];
  if (spec === undefined || Number(env['SHOAL_SERVER_RESTART'] ?? 0) > 0) return 0;
  return parseInjectSpec(spec).find((r) => r.server === server)?.request ?? 0;
}

/**
 * The request from which parameter server `server` stops forwarding pushes to its replicas
 * (kill:server=K:request=N:unreplicated=M gives N - M), or 0: never.
 * @throws {ConfigError} when SHOAL_INJECT does not parse.
 */
export function serverUnreplicatedFrom(server: number, env: NodeJS.ProcessEnv = process.env): number {
  const spec = env[INJECT_ENV];
  if (spec === undefined || Number(env['SHOAL_SERVER_RESTART'] ?? 0) > 0) return 0;
  const rule = parseInjectSpec(spec).find((r) => r.server === server && r.unreplicated !== undefined);
  return rule ? Math.max(1, rule.request! - rule.unreplicated!) : 0;
}

function fireRules(rank: number, size: number, op: InjectPoint, seq: number): DropConnectionAction | null {
  const rules = rulesFromEnv();
  if (rules.length === 0) return null;
  let action: DropConnectionAction | null = null;
  for (const rule of rules) {
    if (fired.has(rule) || !ruleMatches(rule, rank, op, seq)) continue;
    if (rule.kind === 'drop-connection' && (rule.peer! >= size || rule.peer === rank)) {
      if (rule.peer === rank) continue;  // a rule without rank= applies to the other ranks
      throw new ConfigError('ERR_CONFIG', `fault injection rule ${rule.index} ${JSON.stringify(rule.text)}: peer ${rule.peer} is not a rank of this ${size}-rank job`);
    }
    // A delay on every op (a stand-in straggler, --slow-rank) is announced once, not per op.
    const everyOp = rule.kind === 'delay' && rule.seq === undefined && rule.prob === undefined;
    if (!everyOp || !announced.has(rule)) {
      announced.add(rule);
      const line = describeFiring(rule, rank, op, seq) + (everyOp ? ' (and before every later op; not logged again)' : '');
      // Synchronous, so the line is out before a SIGKILL.
      try {
        writeSync(2, `${line}\n`);
      } catch {
        /* stderr closed */
      }
    }
    switch (rule.kind) {
      case 'kill':
        fired.add(rule);
        process.kill(process.pid, 'SIGKILL');
        sleepBlocking(10_000);  // the signal is delivered asynchronously; never submit the op
        break;
      case 'exit':
        fired.add(rule);
        process.exit(rule.code ?? 1);
        break;
      case 'delay':
        sleepBlocking(rule.ms ?? 0);
        break;
      case 'drop-connection':
        fired.add(rule);
        action ??= { kind: 'drop-connection', peer: rule.peer!, reason: `connection to rank ${rule.peer} dropped (injected by rule ${JSON.stringify(rule.text)} at ${op} seq ${seq})` };
        break;
    }
  }
  return action;
}

/** @internal Tests: forget the cached spec and which rules fired. */
export function resetFaultInjection(): void {
  loaded = null;
  fired.clear();
  announced.clear();
}
