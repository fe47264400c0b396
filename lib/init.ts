// init(): turns the environment a launcher gave this process into a connected world
// communicator. Under `shoal run` the launcher hosts the coordinator; under mpirun, srun or
// a Kubernetes Indexed Job, task 0 hosts it when SHOAL_COORDINATOR points at its own host.
// There, with SHOAL_NUM_SERVERS=K, the first K tasks are parameter servers: init() runs the
// server in the process and never returns (the process exits when the workers are done).
import { availableParallelism } from 'node:os';

import { Coordinator } from './coordinator.js';
import { CoordinatorClient } from './coordinator_client.js';
import { Communicator, joinWorld, type CommunicatorRuntime } from './communicator.js';
import { worldGroupName } from './coordinator_protocol.js';
import { advertiseHostFor, coordinatorListenHost, detectEnv, type JobEnv } from './env.js';
import { ConfigError } from './errors.js';
import { serverKillRequest, serverUnreplicatedFrom } from './fault_injection.js';
import { PsClient } from './ps/client.js';
import { runParameterServer } from './ps/server_process.js';
import { telemetry } from './telemetry.js';

export interface InitOptions {
  /** Environment to read instead of process.env (tests). */
  env?: NodeJS.ProcessEnv;
  /** Rendezvous/connect timeout; default SHOAL_TIMEOUT_MS or 60 s. */
  timeoutMs?: number;
  /** Default per-op timeout; default SHOAL_OP_TIMEOUT_MS or 30 min (0: none). */
  opTimeoutMs?: number;
  /** Engine tuning (tests force tiny segments; benchmarks sweep thresholds). */
  tuning?: CommunicatorRuntime['tuning'];
}

const DEFAULT_OP_TIMEOUT_MS = 30 * 60_000;

function numberFromEnv(env: NodeJS.ProcessEnv, name: string, min = 0): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new ConfigError('ERR_CONFIG', `${name}=${raw} must be a number >= ${min}`);
  return n;
}

function tuningFromEnv(env: NodeJS.ProcessEnv): CommunicatorRuntime['tuning'] {
  const t: CommunicatorRuntime['tuning'] = {};
  const small = numberFromEnv(env, 'SHOAL_SMALL_MESSAGE_BYTES');
  const seg = numberFromEnv(env, 'SHOAL_SEGMENT_BYTES');
  // Spinning threads yield the core (sched_yield); a small op on the JS thread does not spin
  // at all with more ranks than cores (measured at np 4 on 2 cores; see BENCHMARKS.md).
  // These override the defaults.
  const spin = numberFromEnv(env, 'SHOAL_SPIN_US');
  const queueSpin = numberFromEnv(env, 'SHOAL_QUEUE_SPIN_US');
  const yieldPoll = numberFromEnv(env, 'SHOAL_YIELD_US');
  const syncWait = numberFromEnv(env, 'SHOAL_SYNC_WAIT_US');
  const frame = numberFromEnv(env, 'SHOAL_MAX_FRAME_BYTES');
  if (small !== undefined) t.smallMessageBytes = small;
  const smallRooted = numberFromEnv(env, 'SHOAL_SMALL_ROOTED_BYTES');
  if (smallRooted !== undefined) t.smallRootedBytes = smallRooted;
  const smallAllReduce = numberFromEnv(env, 'SHOAL_SMALL_ALLREDUCE_BYTES');
  if (smallAllReduce !== undefined) t.smallAllReduceBytes = smallAllReduce;
  if (seg !== undefined) t.segmentBytes = seg;
  if (spin !== undefined) t.spinUs = spin;
  if (queueSpin !== undefined) t.queueSpinUs = queueSpin;
  if (yieldPoll !== undefined) t.yieldUs = yieldPoll;
  if (syncWait !== undefined) t.syncWaitUs = syncWait;
  // Pin each local rank's comm thread to its own core (round robin) when the launcher says
  // which local rank this is: measured to remove a 2x bimodal slowdown at 1 MiB when two
  // ranks' comm threads landed on one core. SHOAL_COMM_CPU=-1 turns it off.
  const localRank = numberFromEnv(env, 'SHOAL_LOCAL_RANK') ?? numberFromEnv(env, 'OMPI_COMM_WORLD_LOCAL_RANK');
  const cpu = numberFromEnv(env, 'SHOAL_COMM_CPU', -1) ?? (localRank !== undefined ? localRank % availableParallelism() : undefined);
  if (cpu !== undefined && cpu >= 0) t.cpu = cpu;
  if (frame !== undefined) t.maxFrameBytes = frame;
  // Same-host peers exchange payloads through shared memory unless SHOAL_TRANSPORT=tcp.
  const transport = env['SHOAL_TRANSPORT'];
  if (transport !== undefined && transport !== '') {
    if (transport !== 'auto' && transport !== 'tcp' && transport !== 'shm') {
      throw new ConfigError('ERR_CONFIG', `SHOAL_TRANSPORT=${transport} must be auto, tcp or shm`);
    }
    t.transport = transport;
  }
  // Topology-aware collectives (docs/algorithms.md): SHOAL_HIERARCHICAL=0 turns them off,
  // =phased keeps them but not the streamed two-host allReduce (for comparisons);
  // SHOAL_HOST_ID names this rank's host (tests simulate hosts on one machine with it).
  const hier = env['SHOAL_HIERARCHICAL'];
  if (hier !== undefined && hier !== '') {
    if (hier !== '0' && hier !== '1' && hier !== 'phased') throw new ConfigError('ERR_CONFIG', `SHOAL_HIERARCHICAL=${hier} must be 0, 1 or phased`);
    t.hierarchical = hier === 'phased' ? 'phased' : hier === '1';
  }
  const hostId = env['SHOAL_HOST_ID'];
  if (hostId !== undefined && hostId !== '') {
    if (hostId.length > 255) throw new ConfigError('ERR_CONFIG', `SHOAL_HOST_ID must be at most 255 characters, got ${hostId.length}`);
    t.hostId = hostId;
  }
  // SHOAL_DIRECT_READS=0: large allReduces on one host never read the peers' memory directly.
  const direct = env['SHOAL_DIRECT_READS'];
  if (direct !== undefined && direct !== '') {
    if (direct !== '0' && direct !== '1') throw new ConfigError('ERR_CONFIG', `SHOAL_DIRECT_READS=${direct} must be 0 or 1`);
    t.directReads = direct === '1';
  }
  const directMin = numberFromEnv(env, 'SHOAL_DIRECT_MIN_SLICE_BYTES');
  if (directMin !== undefined) t.directMinSliceBytes = directMin;
  const ring = numberFromEnv(env, 'SHOAL_SHM_RING_BYTES', 4096);
  if (ring !== undefined) t.shmRingBytes = ring;
  return t;
}

/**
 * Joins the job and returns the world communicator.
 * @example
 * const comm = await init();
 * await comm.allReduce(grad, { op: 'sum' });
 * await comm.close();
 */
export async function init(options: InitOptions = {}): Promise<Communicator> {
  const env = options.env ?? process.env;
  const job: JobEnv = detectEnv(env);
  const timeoutMs = options.timeoutMs ?? job.timeoutMs;
  const opTimeoutMs = options.opTimeoutMs ?? numberFromEnv(env, 'SHOAL_OP_TIMEOUT_MS') ?? DEFAULT_OP_TIMEOUT_MS;
  const tuning = { ...tuningFromEnv(env), ...options.tuning };  // a bad value fails before anything starts
  let coordinator: Coordinator | null = null;
  let client: CoordinatorClient | null = null;
  const numServers = job.numServers;
  // A job with parameter servers needs the coordinator even with a single worker. Under
  // `shoal run` a single rank connects too: the launcher printed a dashboard URL for it.
  if (job.coordinator && (job.size > 1 || numServers > 0 || env.SHOAL_LAUNCHER === 'shoal')) {
    if (job.hostsCoordinator) {
      coordinator = await Coordinator.start({ host: coordinatorListenHost(job.coordinator), port: job.coordinator.port, token: job.token });
    }
    if (job.role === 'server') return runServerTask(job, env, coordinator);
    // `shoal run` restarts a crashed coordinator on the same port: ride through it.
    const reconnectMs = env.SHOAL_LAUNCHER === 'shoal' ? timeoutMs : 0;
    client = await CoordinatorClient.connect(job.coordinator, { token: job.token, rank: job.rank, size: job.size, timeoutMs, reconnectMs });
  }
  const advertiseHost = advertiseHostFor(env, job.bindHost);
  const runtime: CommunicatorRuntime = {
    token: job.token || 'local',
    bindHost: job.bindHost,
    advertiseHost,
    timeoutMs,
    opTimeoutMs,
    client,
    tuning,
  };
  let world: Communicator;
  try {
    // A replacement for a lost worker (shoal run --max-restarts) joins the job's current epoch.
    const joined = await joinWorld(job.rank, job.size, runtime, client?.epoch ?? 0);
    world = new Communicator(joined.native, job.rank, job.size, worldGroupName(joined.epoch), Array.from({ length: job.size }, (_, i) => i), runtime);
  } catch (err) {
    await client?.close();
    await coordinator?.close();
    throw err;
  }
  if (numServers > 0) {
    if (!client) throw new Error('SHOAL_NUM_SERVERS is set but there is no coordinator (SHOAL_COORDINATOR)');
    const servers = await client.lookup('ps/servers', timeoutMs);
    const ps = await PsClient.connect(
      servers.map((s) => ({ rank: s.rank, host: s.host, port: s.port })),
      {
        workerRank: job.rank,
        numWorkers: job.size,
        token: job.token,
        replication: job.psReplication,
        ...(env.SHOAL_PS_MAX_MESSAGE_BYTES ? { maxMessageBytes: numberFromEnv(env, 'SHOAL_PS_MAX_MESSAGE_BYTES') } : {}),
        // SHOAL_PS_ACK_ON_PRIMARY=1: a push completes once its primary applied it, the replicas
        // confirm after (except vector tables' pushes: docs/parameter_server.md).
        ...(env.SHOAL_PS_ACK_ON_PRIMARY === '1' ? { ackOnPrimary: true } : {}),
        ...(env.SHOAL_PS_STORE_ORDER_MIN_KEYS ? { storeOrderMinKeys: numberFromEnv(env, 'SHOAL_PS_STORE_ORDER_MIN_KEYS') } : {}),
      },
      { timeoutMs: numberFromEnv(env, 'SHOAL_PS_TIMEOUT_MS') ?? opTimeoutMs },
    );
    world.attachPs(ps);
  }
  if (client) {
    const c = client;
    c.setMetricsSource(() => telemetry.snapshot());
    runtime.stallDiagnosis = () => c.lastStall;
    c.on('peerLost', ({ rank, role, reason }) => {
      if (role === 'server') world.psLost(rank, reason);
      else world.peerLost(rank, reason);
    });
    c.on('peerJoined', ({ group, rank, role, host, port }) => {
      if (role !== 'server' || group !== 'ps/servers') return;
      try {
        world.psJoined(rank, host, port);
      } catch (err) {
        process.emitWarning(`ignoring a parameter-server announcement: ${(err as Error).message}`, { code: 'SHOAL_PS_JOIN' });
      }
    });
    // A drained parameter server left the job (elastic remove): off every worker's ring.
    c.on('peerLeft', ({ group, rank, role }) => {
      if (role !== 'server' || group !== 'ps/servers') return;
      try {
        world.psLeft(rank);
      } catch (err) {
        process.emitWarning(`ignoring a parameter-server departure: ${(err as Error).message}`, { code: 'SHOAL_PS_LEAVE' });
      }
    });
    world.onClose(async () => {
      await c.close();
      // Rank 0 keeps hosting the coordinator until the other ranks have said goodbye (bounded).
      if (coordinator) await coordinator.closeWhenDrained({ role: 'worker', rank: job.rank });
    });
  }
  return world;
}

/**
 * One of the first SHOAL_NUM_SERVERS tasks of an mpirun/srun launch: a parameter server for
 * the rest of the process's life (docs/launching.md, "Parameter servers under mpirun and srun").
 */
function runServerTask(job: JobEnv, env: NodeJS.ProcessEnv, coordinator: Coordinator | null): Promise<never> {
  const maxMessageBytes = numberFromEnv(env, 'SHOAL_PS_MAX_MESSAGE_BYTES', 1024);
  return runParameterServer({
    rank: job.rank,
    numServers: job.numServers,
    numWorkers: job.size,
    replication: job.psReplication,
    coordinator: job.coordinator!,
    token: job.token,
    bindHost: job.bindHost,
    advertiseHost: advertiseHostFor(env, job.bindHost),
    timeoutMs: job.timeoutMs,
    restart: 0,
    join: false,
    ...(maxMessageBytes !== undefined ? { maxMessageBytes } : {}),
    ...(env.SHOAL_PS_SNAPSHOT_DIR ? { snapshotDir: env.SHOAL_PS_SNAPSHOT_DIR } : {}),
    ...(env.SHOAL_PS_UPDATERS ? { updatersPath: env.SHOAL_PS_UPDATERS } : {}),
    reconnectMs: 0,
    killAtRequest: serverKillRequest(job.rank, env),
    unreplicatedFrom: serverUnreplicatedFrom(job.rank, env),
    foreign: { launcher: job.launcher, hostedCoordinator: coordinator },
  });
}
