// The environment contract: how a process learns its rank, the job size and where the
// coordinator is, whichever launcher started it (`shoal run`, OpenMPI/MPICH `mpirun`, Slurm
// `srun`, a Kubernetes Indexed Job, or nothing at all). This file only reads and validates
// variables; it never opens sockets, prints or starts anything. Every error names the variable
// and the value it found, because a misconfigured job is usually fixed by reading that message.

import { createHash } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import { ConfigError } from './errors.js';
import { jobSecretFromEnv, missingSecretError } from './job_secret.js';

export type LauncherKind = 'shoal' | 'openmpi' | 'pmi' | 'slurm' | 'kubernetes' | 'none';

export interface CoordinatorAddress {
  host: string;
  port: number;
}

export interface JobEnv {
  /** A worker's rank (0..size-1); a parameter server's index (0..numServers-1). */
  rank: number;
  /** Number of workers: the world communicator's size. */
  size: number;
  /**
   * 'server': one of the first SHOAL_NUM_SERVERS tasks of an mpirun/srun/Indexed Job launch;
   * init() runs a parameter server in it and never returns (docs/launching.md).
   */
  role: 'worker' | 'server';
  /** Parameter servers in the job (SHOAL_NUM_SERVERS; 0 without). */
  numServers: number;
  /** Copies of every parameter-server key: SHOAL_PS_REPLICATION, default min(2, numServers). */
  psReplication: number;
  /** Index of this process among the job's processes on the same host (0 when the launcher does not say). */
  localRank: number;
  /** Where the rendezvous coordinator listens; null only when size === 1 and nothing is configured. */
  coordinator: CoordinatorAddress | null;
  /** Job secret shared by all ranks, from SHOAL_TOKEN or SHOAL_TOKEN_FILE ('' when neither is set; only a job of one may run so). */
  token: string;
  launcher: LauncherKind;
  /** This process must start the coordinator in-process: rank 0 of a foreign launch whose SHOAL_COORDINATOR is local. */
  hostsCoordinator: boolean;
  /** Address data sockets listen on: SHOAL_BIND_HOST, default '127.0.0.1'. */
  bindHost: string;
  /** Default op/rendezvous timeout: SHOAL_TIMEOUT_MS, default 60000. */
  timeoutMs: number;
  jobId: string;
}

export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_BIND_HOST = '127.0.0.1';
const COORDINATOR_EXAMPLE = 'SHOAL_COORDINATOR=10.0.0.1:29500';

type Env = NodeJS.ProcessEnv;

/** Where rank and size came from, before the shared validation. */
interface Placement {
  launcher: LauncherKind;
  rank: number;
  size: number;
  localRank: number;
  /** Id every rank of this job shares, from the launcher, if it has one. */
  launcherJobId: string | null;
}

/**
 * Reads the job's placement from the environment.
 *
 * Rank and size come from, in order: SHOAL_RANK/SHOAL_SIZE, OpenMPI (OMPI_COMM_WORLD_*),
 * MPICH/PMI (PMI_RANK/PMI_SIZE), Slurm (SLURM_PROCID/SLURM_NTASKS), a Kubernetes Indexed Job
 * (JOB_COMPLETION_INDEX with SHOAL_SIZE). With none of them this is a lone process: rank 0, size 1.
 *
 * @throws {ConfigError} code ERR_CONFIG naming the variable and its value.
 * @example
 *   const job = detectEnv();
 *   if (job.hostsCoordinator) await Coordinator.start({ host: job.coordinator!.host, port: job.coordinator!.port, token: job.token });
 */
export function detectEnv(env: Env = process.env): JobEnv {
  const placement = detectPlacement(env);
  const { launcher } = placement;
  const roles = assignRoles(env, placement);
  const { rank, size } = roles;

  const coordinatorRaw = nonEmpty(env, 'SHOAL_COORDINATOR');
  let coordinator: CoordinatorAddress | null = null;
  if (coordinatorRaw !== undefined) {
    coordinator = parseCoordinator(coordinatorRaw);
  } else if (placement.size > 1 || roles.numServers > 0) {
    throw configError(
      `SHOAL_COORDINATOR is required when the job has ${jobShape(placement, roles.numServers)}: ` +
        `set it to the host:port where rank 0 runs the coordinator, e.g. ${COORDINATOR_EXAMPLE}`,
    );
  }

  const jobId = nonEmpty(env, 'SHOAL_JOB_ID') ?? placement.launcherJobId ?? (coordinator ? `c-${sha256(formatAddress(coordinator)).slice(0, 12)}` : 'local');

  // No derived default: a secret computed from the job id or the address is no secret.
  const token = jobSecretFromEnv(env) ?? '';
  if (token === '' && (placement.size > 1 || roles.numServers > 0)) throw missingSecretError(`the job has ${jobShape(placement, roles.numServers)}`);

  const bindHost = nonEmpty(env, 'SHOAL_BIND_HOST') ?? DEFAULT_BIND_HOST;
  if (/\s/.test(bindHost)) throw configError(`SHOAL_BIND_HOST must be one address, got ${JSON.stringify(bindHost)}`);

  const timeoutRaw = nonEmpty(env, 'SHOAL_TIMEOUT_MS');
  const timeoutMs = timeoutRaw === undefined ? DEFAULT_TIMEOUT_MS : parseInteger('SHOAL_TIMEOUT_MS', timeoutRaw, 1);

  // SHOAL_COORDINATOR_EXTERNAL=1: a `shoal coordinator` process serves the job, so it does not die with rank 0.
  const external = nonEmpty(env, 'SHOAL_COORDINATOR_EXTERNAL');
  if (external !== undefined && external !== '0' && external !== '1') throw configError(`SHOAL_COORDINATOR_EXTERNAL must be 0 or 1, got ${JSON.stringify(external)}`);
  // Task 0 of the launch hosts it, server or worker: SHOAL_COORDINATOR names task 0's node.
  const hostsCoordinator = launcher !== 'shoal' && external !== '1' && placement.rank === 0 && coordinator !== null && isLocalAddress(coordinator.host);

  return { rank, size, role: roles.role, numServers: roles.numServers, psReplication: roles.psReplication, localRank: placement.localRank, coordinator, token, launcher, hostsCoordinator, bindHost, timeoutMs, jobId };
}

/** Launchers that start every task the same way and know nothing of Shoal's roles. */
const FOREIGN_LAUNCHERS: readonly LauncherKind[] = ['openmpi', 'pmi', 'slurm', 'kubernetes'];

/**
 * Roles from SHOAL_NUM_SERVERS=K. Under a foreign launcher the first K tasks are parameter
 * servers (index = task) and the others workers (rank = task - K, size = tasks - K). Under
 * `shoal run` (and with SHOAL_RANK set by hand) every process reading this is a worker and K
 * servers run beside the ranks; `shoal run` starts its servers with lib/ps/server_main.ts.
 */
function assignRoles(env: Env, placement: Placement): { role: 'worker' | 'server'; rank: number; size: number; numServers: number; psReplication: number } {
  const raw = nonEmpty(env, 'SHOAL_NUM_SERVERS');
  const numServers = raw === undefined ? 0 : parseInteger('SHOAL_NUM_SERVERS', raw, 0);
  const replicationRaw = nonEmpty(env, 'SHOAL_PS_REPLICATION');
  const psReplication = replicationRaw === undefined ? Math.min(2, Math.max(numServers, 1)) : parseInteger('SHOAL_PS_REPLICATION', replicationRaw, 1);
  const { rank, size } = placement;
  if (numServers === 0 || !FOREIGN_LAUNCHERS.includes(placement.launcher)) return { role: 'worker', rank, size, numServers, psReplication };
  const tasks = `${size} ${size === 1 ? 'task' : 'tasks'} (from ${sizeSource(placement.launcher)})`;
  if (numServers >= size) {
    throw configError(
      `SHOAL_NUM_SERVERS=${raw} leaves no workers: the job has ${tasks} and the first ${numServers} would be parameter servers; ` +
        `set SHOAL_NUM_SERVERS to at most ${size - 1}, or start more tasks`,
    );
  }
  if (psReplication > numServers) {
    throw configError(`SHOAL_PS_REPLICATION=${replicationRaw} is more than the ${numServers} parameter servers (SHOAL_NUM_SERVERS=${raw}): keys cannot have more copies than servers`);
  }
  if (rank < numServers) return { role: 'server', rank, size: size - numServers, numServers, psReplication };
  return { role: 'worker', rank: rank - numServers, size: size - numServers, numServers, psReplication };
}

function detectPlacement(env: Env): Placement {
  const launcherVar = nonEmpty(env, 'SHOAL_LAUNCHER');
  if (launcherVar !== undefined && launcherVar !== 'shoal') {
    throw configError(`SHOAL_LAUNCHER is reserved for shoal run and must be "shoal", got ${JSON.stringify(launcherVar)}`);
  }
  const shoalSize = nonEmpty(env, 'SHOAL_SIZE');

  if (nonEmpty(env, 'SHOAL_RANK') !== undefined) {
    const size = parseInteger('SHOAL_SIZE', required(env, 'SHOAL_SIZE', 'SHOAL_RANK is set'), 1);
    const rank = parseRank('SHOAL_RANK', required(env, 'SHOAL_RANK', ''), size, 'SHOAL_SIZE');
    const localRaw = nonEmpty(env, 'SHOAL_LOCAL_RANK');
    const localRank = localRaw === undefined ? 0 : parseInteger('SHOAL_LOCAL_RANK', localRaw, 0);
    return { launcher: launcherVar === 'shoal' ? 'shoal' : 'none', rank, size, localRank, launcherJobId: null };
  }
  if (launcherVar === 'shoal') {
    throw configError('SHOAL_LAUNCHER=shoal is set but SHOAL_RANK is missing: start the script with shoal run, or unset SHOAL_LAUNCHER');
  }

  if (nonEmpty(env, 'OMPI_COMM_WORLD_RANK') !== undefined) {
    return foreign(env, 'openmpi', 'OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', ['OMPI_COMM_WORLD_LOCAL_RANK'], nonEmpty(env, 'OMPI_MCA_ess_base_jobid') ?? null);
  }
  if (nonEmpty(env, 'PMI_RANK') !== undefined) {
    // Hydra (MPICH) exports MPI_LOCALRANKID; some PMI implementations export PMI_LOCAL_RANK.
    return foreign(env, 'pmi', 'PMI_RANK', 'PMI_SIZE', ['MPI_LOCALRANKID', 'PMI_LOCAL_RANK'], nonEmpty(env, 'PMI_JOBID') ?? null);
  }
  if (nonEmpty(env, 'SLURM_PROCID') !== undefined) {
    const jobId = nonEmpty(env, 'SLURM_JOB_ID');
    const step = nonEmpty(env, 'SLURM_STEP_ID');
    return foreign(env, 'slurm', 'SLURM_PROCID', 'SLURM_NTASKS', ['SLURM_LOCALID'], jobId === undefined ? null : step === undefined ? jobId : `${jobId}.${step}`);
  }
  if (nonEmpty(env, 'JOB_COMPLETION_INDEX') !== undefined) {
    if (shoalSize === undefined) {
      throw configError(
        `JOB_COMPLETION_INDEX=${env['JOB_COMPLETION_INDEX']} says this is a Kubernetes Indexed Job, but SHOAL_SIZE is not set: ` +
          'set SHOAL_SIZE to the Job\'s completions (Kubernetes does not export it)',
      );
    }
    const size = parseInteger('SHOAL_SIZE', shoalSize, 1);
    const rank = parseRank('JOB_COMPLETION_INDEX', env['JOB_COMPLETION_INDEX'] ?? '', size, 'SHOAL_SIZE');
    return { launcher: 'kubernetes', rank, size, localRank: 0, launcherJobId: null };
  }

  if (shoalSize !== undefined) {
    const size = parseInteger('SHOAL_SIZE', shoalSize, 1);
    if (size > 1) {
      throw configError(`SHOAL_SIZE=${shoalSize} is set but no rank was found: set SHOAL_RANK, or start the script with shoal run, mpirun, srun or a Kubernetes Indexed Job`);
    }
  }
  return { launcher: 'none', rank: 0, size: 1, localRank: 0, launcherJobId: null };
}

/** Placement from a foreign launcher's rank/size variables; SHOAL_SIZE, if also set, must agree. */
function foreign(env: Env, launcher: LauncherKind, rankVar: string, sizeVar: string, localVars: string[], launcherJobId: string | null): Placement {
  const size = parseInteger(sizeVar, required(env, sizeVar, `${rankVar} is set`), 1);
  const rank = parseRank(rankVar, env[rankVar] ?? '', size, sizeVar);
  const shoalSize = nonEmpty(env, 'SHOAL_SIZE');
  if (shoalSize !== undefined && parseInteger('SHOAL_SIZE', shoalSize, 1) !== size) {
    throw configError(`SHOAL_SIZE=${shoalSize} disagrees with ${sizeVar}=${size}: unset SHOAL_SIZE or make them equal`);
  }
  let localRank = 0;
  for (const name of localVars) {
    const raw = nonEmpty(env, name);
    if (raw !== undefined) {
      localRank = parseInteger(name, raw, 0);
      break;
    }
  }
  return { launcher, rank, size, localRank, launcherJobId };
}

/**
 * Parses SHOAL_COORDINATOR: `host:port` or `[ipv6]:port`, with an explicit port in 1..65535.
 * @throws {ConfigError} naming SHOAL_COORDINATOR and its value.
 */
export function parseCoordinator(raw: string, variable = 'SHOAL_COORDINATOR'): CoordinatorAddress {
  const value = raw.trim();
  const bad = (why: string): ConfigError =>
    configError(`${variable}=${JSON.stringify(raw)} is not a valid address: ${why} (expected host:port, e.g. ${COORDINATOR_EXAMPLE})`);
  let host: string;
  let portText: string;
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(value);
  if (v6) {
    host = v6[1] ?? '';
    portText = v6[2] ?? '';
  } else {
    const colon = value.lastIndexOf(':');
    if (colon < 0) throw bad('the port is missing');
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (host.includes(':')) throw bad('write IPv6 addresses in brackets, e.g. [::1]:29500');
  }
  if (host === '') throw bad('the host is empty');
  if (/\s|\//.test(host)) throw bad(`the host ${JSON.stringify(host)} contains spaces or slashes`);
  if (!/^\d+$/.test(portText)) throw bad(`the port ${JSON.stringify(portText)} is not an integer`);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw bad(`the port ${port} is outside 1..65535`);
  return { host, port };
}

/**
 * The address rank 0 should listen on when it hosts the coordinator at `addr`. IP literals and
 * `localhost` are used as given. A host name is resolved by the OS at bind time, and on many
 * distributions a machine's own name maps to 127.0.1.1 in /etc/hosts, which other hosts cannot
 * reach, so a name means "all interfaces"; the token still guards the port.
 */
export function coordinatorListenHost(addr: CoordinatorAddress): string {
  const h = addr.host;
  if (h === 'localhost') return '127.0.0.1';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(h) || h.includes(':')) return h;
  return '0.0.0.0';
}

/**
 * The address peers dial to reach this process's sockets: SHOAL_ADVERTISE_HOST, else the bind
 * address, else (a wildcard bind is not an address anyone can dial) this host's name.
 */
export function advertiseHostFor(env: Env, bindHost: string): string {
  return nonEmpty(env, 'SHOAL_ADVERTISE_HOST') ?? (bindHost === '0.0.0.0' || bindHost === '::' ? hostname() : bindHost);
}

/** `host:port`, bracketing IPv6 literals. */
export function formatAddress(addr: CoordinatorAddress): string {
  return addr.host.includes(':') ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
}

/**
 * True when `host` names this machine: loopback, the wildcard address, one of this host's
 * interface addresses, or its hostname. Decides whether rank 0 must host the coordinator.
 */
export function isLocalAddress(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0.0.0.0' || h === '::' || /^127\.\d+\.\d+\.\d+$/.test(h)) return true;
  const name = hostname().toLowerCase();
  if (h === name || h.split('.')[0] === name) return true;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.address.toLowerCase() === h) return true;
    }
  }
  return false;
}

/**
 * How long the coordinator waits for a rank's heartbeat (one per second) before declaring it
 * dead: SHOAL_HEARTBEAT_TIMEOUT_MS, at least 2000; undefined when unset (the default, 10 s,
 * applies). A longer wait suits busy nodes, where a short synchronous section in a rank can
 * take seconds of wall time; a dead rank is then noticed later.
 */
export function heartbeatTimeoutFromEnv(env: Env = process.env): number | undefined {
  const raw = nonEmpty(env, 'SHOAL_HEARTBEAT_TIMEOUT_MS');
  return raw === undefined ? undefined : parseInteger('SHOAL_HEARTBEAT_TIMEOUT_MS', raw, 2000);
}

function nonEmpty(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v;
}

function required(env: Env, name: string, because: string): string {
  const v = nonEmpty(env, name);
  if (v === undefined) throw configError(`${name} is required${because ? ` because ${because}` : ''}, but it is not set`);
  return v;
}

function parseInteger(name: string, raw: string, min: number): number {
  const text = raw.trim();
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw configError(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  const n = Number(text);
  if (n < min) throw configError(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

function parseRank(name: string, raw: string, size: number, sizeName: string): number {
  const rank = parseInteger(name, raw, 0);
  if (rank >= size) throw configError(`${name}=${rank} is out of range: ${sizeName}=${size}, so ranks are 0..${size - 1}`);
  return rank;
}

/** "3 ranks (from SLURM_NTASKS)", plus the servers when SHOAL_NUM_SERVERS is set: what a message about the job's size says. */
function jobShape(placement: Placement, numServers: number): string {
  const ranks = `${placement.size} ranks (from ${sizeSource(placement.launcher)})`;
  return numServers > 0 ? `${ranks} and ${numServers} parameter server(s) (SHOAL_NUM_SERVERS)` : ranks;
}

function sizeSource(launcher: LauncherKind): string {
  switch (launcher) {
    case 'openmpi':
      return 'OMPI_COMM_WORLD_SIZE';
    case 'pmi':
      return 'PMI_SIZE';
    case 'slurm':
      return 'SLURM_NTASKS';
    default:
      return 'SHOAL_SIZE';
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function configError(message: string): ConfigError {
  return new ConfigError('ERR_CONFIG', message);
}
