// A throwaway one-node Slurm cluster on 127.0.0.1 for launch tests: its own munged (own key,
// socket, pid, log and seed files), slurmctld and slurmd, all configured by a slurm.conf in a
// temp dir that srun/sbatch/sinfo find through SLURM_CONF. Nothing global is touched: not
// /etc/munge, /etc/slurm, /run/munge or the system services. stop() cancels every job, stops
// the daemons (SIGTERM, then SIGKILL), kills any process still carrying this cluster's marker in
// its environment (tasks, slurmstepd) and removes the temp dir.
//
// Needs root (SlurmUser=root; slurmd starts tasks as the submitting user) and Debian's
// `slurm-wlm` and `munge` packages (.ci/run installs them).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from './free_port.js';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

const COMMANDS = ['munged', 'slurmctld', 'slurmd', 'srun', 'sbatch', 'sinfo', 'squeue', 'scontrol', 'scancel'];
/** Environment variable every process of the cluster (daemons, steps, tasks) carries: how stop() finds leftovers. */
export const CLUSTER_MARKER = 'SHOAL_SLURM_CLUSTER';

/** Why a local Slurm cluster cannot be started here, or null when it can. */
export function slurmUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not root: the test Slurm runs slurmctld/slurmd with SlurmUser=root';
  const missing = COMMANDS.filter((c) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status !== 0);
  if (missing.length > 0) return `missing ${missing.join(', ')} (apt-get install slurm-wlm munge)`;
  return null;
}

export interface SlurmCluster {
  /** Temp dir holding the config, keys, sockets, state, spool and logs. */
  readonly dir: string;
  /** Path of the generated slurm.conf. */
  readonly conf: string;
  /** Node name (this host's short name) with NodeAddr=127.0.0.1. */
  readonly node: string;
  /** How long munged + slurmctld + slurmd took until sinfo showed the node idle. */
  readonly setupMs: number;
  /** Environment for srun/sbatch/squeue/...: process.env plus SLURM_CONF and the cluster marker. */
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  /** Runs a Slurm client command synchronously (bounded); returns stdout, throws with stderr on failure. */
  run(cmd: string, args: string[], timeoutMs?: number, extraEnv?: Record<string, string>): string;
  /** The tail of every daemon log, for failure messages. */
  logs(): string;
  /** Cancels all jobs, stops the daemons, kills leftovers and removes the dir. Idempotent. */
  stop(): Promise<void>;
}

export interface SlurmClusterOptions {
  /** CPUs declared for the node (more than the machine has, to run more tasks). Default 8. */
  cpus?: number;
  /** Bound on bringing the cluster up. Default 90 s (a loaded CI machine). */
  startTimeoutMs?: number;
}

interface Daemon {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
}

function startDaemon(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, dir: string): Daemon {
  const out = openSync(join(dir, `${name}.out`), 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', out, out], env });
  closeSync(out);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.on('exit', () => resolve());
    child.on('error', () => resolve());
  });
  return { name, child, exited };
}

function tail(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(none)';
  }
}

/** Pids (other than ours) whose environment holds `${CLUSTER_MARKER}=${dir}`. */
function markedProcesses(dir: string): number[] {
  const needle = `${CLUSTER_MARKER}=${dir}`;
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(needle)) out.push(Number(entry));
    } catch {
      /* gone or not ours to read */
    }
  }
  return out;
}

/**
 * Brings up munged, slurmctld and slurmd in a fresh temp dir and waits until `sinfo` shows the
 * node idle. On failure everything started is stopped and the error carries the daemons' logs.
 */
export async function startSlurmCluster(options: SlurmClusterOptions = {}): Promise<SlurmCluster> {
  const started = Date.now();
  const cpus = options.cpus ?? 8;
  const startTimeoutMs = options.startTimeoutMs ?? 90_000;
  const dir = mkdtempSync(join(tmpdir(), 'shoal-slurm-'));
  // munged wants the socket's directory searchable by everyone and not writable by others.
  chmodSync(dir, 0o711);
  for (const d of ['state', 'spool']) mkdirSync(join(dir, d), { mode: 0o700 });
  const conf = join(dir, 'slurm.conf');
  const socket = join(dir, 'munge.socket');
  const node = hostname().split('.')[0] || 'localhost';
  // Our own key, never /etc/munge/munge.key: munged insists it is owned by its user, mode 0600.
  writeFileSync(join(dir, 'munge.key'), randomBytes(1024), { mode: 0o600 });
  const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
  writeFileSync(
    conf,
    [
      'ClusterName=shoaltest',
      `SlurmctldHost=${node}(127.0.0.1)`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${slurmdPort}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${socket}`,
      `StateSaveLocation=${join(dir, 'state')}`,
      `SlurmdSpoolDir=${join(dir, 'spool')}`,
      `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
      `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
      `SlurmctldLogFile=${join(dir, 'slurmctld.log')}`,
      `SlurmdLogFile=${join(dir, 'slurmd.log')}`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU',
      'SchedulerType=sched/builtin',
      // The node declares more CPUs than the machine has: believe the config, not the hardware.
      'SlurmdParameters=config_overrides',
      'ReturnToService=2',
      'MpiDefault=none',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      // Finished jobs stay visible to `scontrol show job` for 5 minutes (their state and exit code).
      'MinJobAge=300',
      `NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} State=UNKNOWN`,
      `PartitionName=shoal Nodes=ALL Default=YES MaxTime=INFINITE State=UP`,
      '',
    ].join('\n'),
  );
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({ ...process.env, SLURM_CONF: conf, [CLUSTER_MARKER]: dir, ...extra });
  const daemons: Daemon[] = [];
  let stopped = false;

  const run = (cmd: string, args: string[], timeoutMs = 30_000, extraEnv: Record<string, string> = {}): string => {
    const r = spawnSync(cmd, args, { env: env(extraEnv), encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' });
    if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr.trim()}`);
    return r.stdout;
  };
  const logs = (): string =>
    ['munged.out', 'munged.log', 'slurmctld.out', 'slurmctld.log', 'slurmd.out', 'slurmd.log']
      .filter((f) => existsSync(join(dir, f)))
      .map((f) => `--- ${f}\n${tail(join(dir, f))}`)
      .join('\n');
  const killProc = (pid: number, sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  };
  // If the test process dies without stop(), at least the daemons go with it.
  const onExit = (): void => {
    for (const d of daemons) if (d.child.pid !== undefined && d.child.exitCode === null && d.child.signalCode === null) killProc(d.child.pid, 'SIGKILL');
  };
  process.on('exit', onExit);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const ctldUp = daemons.some((d) => d.name === 'slurmctld' && d.child.exitCode === null && d.child.signalCode === null);
    if (ctldUp) {
      try {
        run('scancel', ['--partition=shoal'], 15_000);
        const until = Date.now() + 20_000;
        while (Date.now() < until && run('squeue', ['-h', '-o', '%i'], 15_000).trim() !== '') await delay(500);
      } catch {
        /* the daemons are going anyway; leftovers are killed below */
      }
    }
    for (const d of [...daemons].reverse()) {
      if (d.child.exitCode !== null || d.child.signalCode !== null) continue;
      d.child.kill('SIGTERM');
      const t = setTimeout(() => d.child.kill('SIGKILL'), 10_000);
      await d.exited;
      clearTimeout(t);
    }
    // Whatever is left of the jobs (slurmstepd, tasks) carries the marker.
    for (let i = 0; i < 3; i++) {
      const left = markedProcesses(dir);
      if (left.length === 0) break;
      for (const pid of left) killProc(pid, 'SIGKILL');
      await delay(200);
    }
    process.off('exit', onExit);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const daemonEnv = env();
    daemons.push(
      startDaemon('munged', 'munged', ['-F', '-f', `--key-file=${join(dir, 'munge.key')}`, `--socket=${socket}`, `--pid-file=${join(dir, 'munged.pid')}`, `--log-file=${join(dir, 'munged.log')}`, `--seed-file=${join(dir, 'munged.seed')}`], daemonEnv, dir),
    );
    const deadline = started + startTimeoutMs;
    const alive = (): void => {
      for (const d of daemons) if (d.child.exitCode !== null || d.child.signalCode !== null) throw new Error(`${d.name} exited (${d.child.exitCode ?? d.child.signalCode}) while the cluster was starting`);
    };
    while (!existsSync(socket)) {
      alive();
      if (Date.now() > deadline) throw new Error(`munged did not create ${socket} within ${startTimeoutMs} ms`);
      await delay(100);
    }
    daemons.push(startDaemon('slurmctld', 'slurmctld', ['-D', '-c', '-f', conf], daemonEnv, dir));
    daemons.push(startDaemon('slurmd', 'slurmd', ['-D', '-f', conf], daemonEnv, dir));
    let state = '';
    for (;;) {
      alive();
      const r = spawnSync('sinfo', ['-h', '-n', node, '-o', '%T'], { env: env(), encoding: 'utf8', timeout: 15_000, killSignal: 'SIGKILL' });
      state = r.status === 0 ? r.stdout.trim() : `sinfo failed: ${(r.stderr ?? '').trim().split('\n').pop() ?? ''}`;
      if (state === 'idle') break;
      if (Date.now() > deadline) throw new Error(`node ${node} not idle within ${startTimeoutMs} ms (last: ${state})`);
      await delay(300);
    }
  } catch (err) {
    const message = `${(err as Error).message}\n${logs()}`;
    await stop();
    throw new Error(message);
  }
  return { dir, conf, node, setupMs: Date.now() - started, env, run, logs, stop };
}
