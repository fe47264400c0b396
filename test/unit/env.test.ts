import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coordinatorListenHost, detectEnv, formatAddress, isLocalAddress, parseCoordinator } from '../../lib/env.js';
import { ConfigError } from '../../lib/errors.js';

const COORD = { SHOAL_COORDINATOR: '127.0.0.1:29500' };

function configError(t: import('ava').ExecutionContext, env: NodeJS.ProcessEnv, ...needles: string[]): void {
  const err = t.throws(() => detectEnv(env), { instanceOf: ConfigError });
  t.is(err?.code, 'ERR_CONFIG');
  for (const needle of needles) t.true(err?.message.includes(needle), `expected ${JSON.stringify(needle)} in: ${err?.message}`);
}

test('nothing set: a lone process with defaults', (t) => {
  const job = detectEnv({});
  t.deepEqual(job, {
    rank: 0,
    size: 1,
    role: 'worker',
    numServers: 0,
    psReplication: 1,
    localRank: 0,
    coordinator: null,
    token: '',
    launcher: 'none',
    hostsCoordinator: false,
    bindHost: '127.0.0.1',
    timeoutMs: 60000,
    jobId: 'local',
  });
});

test('shoal run contract', (t) => {
  const job = detectEnv({
    SHOAL_RANK: '2',
    SHOAL_SIZE: '4',
    SHOAL_LOCAL_RANK: '2',
    SHOAL_COORDINATOR: '127.0.0.1:40123',
    SHOAL_TOKEN: 'secret',
    SHOAL_LAUNCHER: 'shoal',
    SHOAL_TIMEOUT_MS: '5000',
    SHOAL_BIND_HOST: '0.0.0.0',
    SHOAL_JOB_ID: 'abc',
  });
  t.is(job.rank, 2);
  t.is(job.size, 4);
  t.is(job.localRank, 2);
  t.deepEqual(job.coordinator, { host: '127.0.0.1', port: 40123 });
  t.is(job.token, 'secret');
  t.is(job.launcher, 'shoal');
  t.false(job.hostsCoordinator, 'shoal run hosts the coordinator itself');
  t.is(job.timeoutMs, 5000);
  t.is(job.bindHost, '0.0.0.0');
  t.is(job.jobId, 'abc');
});

test('manual SHOAL_RANK without the launcher: rank 0 hosts a local coordinator', (t) => {
  const r0 = detectEnv({ SHOAL_RANK: '0', SHOAL_SIZE: '2', ...COORD, SHOAL_TOKEN: 'x' });
  t.is(r0.launcher, 'none');
  t.true(r0.hostsCoordinator);
  const r1 = detectEnv({ SHOAL_RANK: '1', SHOAL_SIZE: '2', ...COORD, SHOAL_TOKEN: 'x' });
  t.false(r1.hostsCoordinator);
});

test('OpenMPI variables', (t) => {
  const env = { OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '3', OMPI_COMM_WORLD_LOCAL_RANK: '1', OMPI_MCA_ess_base_jobid: '12345', ...COORD, SHOAL_TOKEN: 'mpi-secret' };
  const job = detectEnv(env);
  t.is(job.launcher, 'openmpi');
  t.is(job.rank, 1);
  t.is(job.size, 3);
  t.is(job.localRank, 1);
  t.is(job.jobId, '12345');
  t.is(job.token, 'mpi-secret');
  t.false(job.hostsCoordinator);
  const r0 = detectEnv({ ...env, OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_LOCAL_RANK: '0' });
  t.true(r0.hostsCoordinator);
});

test('a multi-rank job without SHOAL_TOKEN is refused under every launcher, saying how to set one', (t) => {
  const launches: NodeJS.ProcessEnv[] = [
    { OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '2', OMPI_MCA_ess_base_jobid: '1', ...COORD },
    { PMI_RANK: '1', PMI_SIZE: '2', ...COORD },
    { SLURM_PROCID: '0', SLURM_NTASKS: '2', SLURM_JOB_ID: '7', ...COORD },
    { JOB_COMPLETION_INDEX: '0', SHOAL_SIZE: '2', ...COORD },
    { SHOAL_RANK: '1', SHOAL_SIZE: '2', ...COORD },
  ];
  for (const env of launches) configError(t, env, 'no job secret is set', 'SHOAL_TOKEN_FILE', 'export SHOAL_TOKEN=$(openssl rand -hex 16)');
  configError(t, { ...launches[0], SHOAL_TOKEN: '  ' }, 'SHOAL_TOKEN is set but empty');
});

test('SHOAL_TOKEN_FILE: the secret is read from the file; SHOAL_TOKEN wins when both are set', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-token-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'token');
  writeFileSync(file, 'from-the-file\n', { mode: 0o600 });
  const env = { OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '2', ...COORD, SHOAL_TOKEN_FILE: file };
  t.is(detectEnv(env).token, 'from-the-file');
  t.is(detectEnv({ ...env, SHOAL_TOKEN: 'direct' }).token, 'direct');
  configError(t, { ...env, SHOAL_TOKEN_FILE: join(dir, 'missing') }, `SHOAL_TOKEN_FILE=${join(dir, 'missing')}`, 'cannot read');
  writeFileSync(file, '\n');
  configError(t, env, 'is empty');
  writeFileSync(file, 'two\nlines\n');
  configError(t, env, 'single line');
});

test('MPICH/PMI variables', (t) => {
  const job = detectEnv({ PMI_RANK: '3', PMI_SIZE: '4', MPI_LOCALRANKID: '1', ...COORD, SHOAL_TOKEN: 't' });
  t.is(job.launcher, 'pmi');
  t.deepEqual([job.rank, job.size, job.localRank], [3, 4, 1]);
  t.is(detectEnv({ PMI_RANK: '0', PMI_SIZE: '2', PMI_LOCAL_RANK: '0', ...COORD, SHOAL_TOKEN: 't' }).localRank, 0);
});

test('Slurm variables', (t) => {
  const job = detectEnv({ SLURM_PROCID: '5', SLURM_NTASKS: '8', SLURM_LOCALID: '1', SLURM_JOB_ID: '777', SLURM_STEP_ID: '0', ...COORD, SHOAL_TOKEN: 's' });
  t.is(job.launcher, 'slurm');
  t.deepEqual([job.rank, job.size, job.localRank], [5, 8, 1]);
  t.is(job.jobId, '777.0');
});

test('SHOAL_NUM_SERVERS under srun and mpirun: the first K tasks are servers, the rest workers 0..N-K-1', (t) => {
  const slurm = (procid: number): NodeJS.ProcessEnv => ({ SLURM_PROCID: String(procid), SLURM_NTASKS: '5', SHOAL_NUM_SERVERS: '2', ...COORD, SHOAL_TOKEN: 's' });
  const roles = [0, 1, 2, 3, 4].map((p) => detectEnv(slurm(p))).map((j) => [j.role, j.rank, j.size, j.numServers, j.psReplication, j.hostsCoordinator]);
  t.deepEqual(roles, [
    ['server', 0, 3, 2, 2, true],  // task 0 hosts the coordinator, whatever its role
    ['server', 1, 3, 2, 2, false],
    ['worker', 0, 3, 2, 2, false],
    ['worker', 1, 3, 2, 2, false],
    ['worker', 2, 3, 2, 2, false],
  ]);
  const mpi = detectEnv({ OMPI_COMM_WORLD_RANK: '3', OMPI_COMM_WORLD_SIZE: '4', SHOAL_NUM_SERVERS: '1', ...COORD, SHOAL_TOKEN: 's' });
  t.deepEqual([mpi.role, mpi.rank, mpi.size, mpi.psReplication], ['worker', 2, 3, 1]);
  t.is(detectEnv({ ...slurm(1), SHOAL_PS_REPLICATION: '1' }).psReplication, 1);
  // Under shoal run the launcher starts the servers: every rank stays a worker of its own rank.
  const shoal = detectEnv({ SHOAL_RANK: '0', SHOAL_SIZE: '2', SHOAL_LAUNCHER: 'shoal', SHOAL_NUM_SERVERS: '2', SHOAL_PS_REPLICATION: '2', ...COORD, SHOAL_TOKEN: 's' });
  t.deepEqual([shoal.role, shoal.rank, shoal.size, shoal.numServers], ['worker', 0, 2, 2]);
});

test('SHOAL_NUM_SERVERS errors name the variable: no workers left, too many copies, not a number, no coordinator or secret', (t) => {
  const base = { SLURM_PROCID: '0', SLURM_NTASKS: '3', ...COORD, SHOAL_TOKEN: 's' };
  configError(t, { ...base, SHOAL_NUM_SERVERS: '3' }, 'SHOAL_NUM_SERVERS=3 leaves no workers', '3 tasks (from SLURM_NTASKS)', 'at most 2');
  configError(t, { ...base, SHOAL_NUM_SERVERS: '1', SHOAL_PS_REPLICATION: '2' }, 'SHOAL_PS_REPLICATION=2', '1 parameter servers (SHOAL_NUM_SERVERS=1)');
  configError(t, { ...base, SHOAL_NUM_SERVERS: 'two' }, 'SHOAL_NUM_SERVERS must be an integer >= 0, got "two"');
  configError(t, { SLURM_PROCID: '0', SLURM_NTASKS: '3', SHOAL_NUM_SERVERS: '1', SHOAL_TOKEN: 's' }, 'SHOAL_COORDINATOR is required', '3 ranks (from SLURM_NTASKS) and 1 parameter server(s) (SHOAL_NUM_SERVERS)');
  configError(t, { SLURM_PROCID: '0', SLURM_NTASKS: '3', SHOAL_NUM_SERVERS: '1', ...COORD }, 'SHOAL_NUM_SERVERS', 'SHOAL_TOKEN');
  // A lone worker with servers (manual launch) still needs both.
  configError(t, { SHOAL_NUM_SERVERS: '1', ...COORD }, 'no job secret', '1 parameter server(s) (SHOAL_NUM_SERVERS)');
});

test('Kubernetes Indexed Job: size from SHOAL_SIZE', (t) => {
  const job = detectEnv({ JOB_COMPLETION_INDEX: '2', SHOAL_SIZE: '3', SHOAL_COORDINATOR: 'train-0.train:29500', SHOAL_TOKEN: 's' });
  t.is(job.launcher, 'kubernetes');
  t.deepEqual([job.rank, job.size, job.localRank], [2, 3, 0]);
  t.deepEqual(job.coordinator, { host: 'train-0.train', port: 29500 });
  t.false(job.hostsCoordinator);
});

test('Kubernetes without SHOAL_SIZE is an error naming it', (t) => {
  configError(t, { JOB_COMPLETION_INDEX: '0', ...COORD }, 'SHOAL_SIZE', 'JOB_COMPLETION_INDEX');
});

test('precedence: SHOAL_RANK > OpenMPI > PMI > Slurm > Kubernetes', (t) => {
  const all = {
    SHOAL_RANK: '0', SHOAL_SIZE: '5',
    OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '5',
    PMI_RANK: '2', PMI_SIZE: '5',
    SLURM_PROCID: '3', SLURM_NTASKS: '5',
    JOB_COMPLETION_INDEX: '4',
    ...COORD,
    SHOAL_TOKEN: 'p',
  };
  t.is(detectEnv(all).rank, 0);
  const { SHOAL_RANK, ...noShoal } = all;
  t.is(detectEnv(noShoal).rank, 1);
  const { OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, ...noOmpi } = noShoal;
  t.is(detectEnv(noOmpi).rank, 2);
  const { PMI_RANK, PMI_SIZE, ...noPmi } = noOmpi;
  t.is(detectEnv(noPmi).rank, 3);
  const { SLURM_PROCID, SLURM_NTASKS, ...noSlurm } = noPmi;
  t.is(detectEnv(noSlurm).rank, 4);
});

test('SHOAL_SIZE must agree with a foreign launcher', (t) => {
  configError(t, { OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '3', SHOAL_SIZE: '4', ...COORD }, 'SHOAL_SIZE=4', 'OMPI_COMM_WORLD_SIZE=3');
});

test('SHOAL_COORDINATOR is required when size > 1 and the error shows an example', (t) => {
  configError(t, { SHOAL_RANK: '0', SHOAL_SIZE: '2' }, 'SHOAL_COORDINATOR', 'SHOAL_COORDINATOR=10.0.0.1:29500');
  configError(t, { SLURM_PROCID: '0', SLURM_NTASKS: '2' }, 'SHOAL_COORDINATOR', 'SLURM_NTASKS');
});

test('size 1 with a coordinator keeps it; without SHOAL_TOKEN its token is empty (init refuses parameter servers then)', (t) => {
  const job = detectEnv({ ...COORD });
  t.deepEqual(job.coordinator, { host: '127.0.0.1', port: 29500 });
  t.is(job.token, '');
  t.true(job.hostsCoordinator);
});

test('rank and size validation names the variable and value', (t) => {
  configError(t, { SHOAL_RANK: 'x', SHOAL_SIZE: '2', ...COORD }, 'SHOAL_RANK', '"x"');
  configError(t, { SHOAL_RANK: '-1', SHOAL_SIZE: '2', ...COORD }, 'SHOAL_RANK', '"-1"');
  configError(t, { SHOAL_RANK: '1.5', SHOAL_SIZE: '2', ...COORD }, 'SHOAL_RANK');
  configError(t, { SHOAL_RANK: '2', SHOAL_SIZE: '2', ...COORD }, 'SHOAL_RANK=2', 'SHOAL_SIZE=2', '0..1');
  configError(t, { SHOAL_RANK: '0', SHOAL_SIZE: '0', ...COORD }, 'SHOAL_SIZE', '"0"');
  configError(t, { SHOAL_RANK: '0' }, 'SHOAL_SIZE is required');
  configError(t, { OMPI_COMM_WORLD_RANK: '0', ...COORD }, 'OMPI_COMM_WORLD_SIZE');
  configError(t, { OMPI_COMM_WORLD_RANK: '4', OMPI_COMM_WORLD_SIZE: '4', ...COORD }, 'OMPI_COMM_WORLD_RANK=4');
  configError(t, { PMI_RANK: 'a', PMI_SIZE: '4', ...COORD }, 'PMI_RANK', '"a"');
  configError(t, { SLURM_PROCID: '0', SLURM_NTASKS: 'many', ...COORD }, 'SLURM_NTASKS', '"many"');
  configError(t, { SLURM_PROCID: '0', SLURM_NTASKS: '2', SLURM_LOCALID: 'z', ...COORD }, 'SLURM_LOCALID');
  configError(t, { JOB_COMPLETION_INDEX: '3', SHOAL_SIZE: '3', ...COORD }, 'JOB_COMPLETION_INDEX=3');
  configError(t, { SHOAL_RANK: '0', SHOAL_SIZE: '2', SHOAL_LOCAL_RANK: 'q', ...COORD }, 'SHOAL_LOCAL_RANK');
});

test('SHOAL_SIZE > 1 without any rank variable is an error', (t) => {
  configError(t, { SHOAL_SIZE: '4', ...COORD }, 'SHOAL_SIZE=4', 'SHOAL_RANK');
  t.is(detectEnv({ SHOAL_SIZE: '1' }).size, 1);
});

test('SHOAL_LAUNCHER misuse', (t) => {
  configError(t, { SHOAL_LAUNCHER: 'mpirun', SHOAL_RANK: '0', SHOAL_SIZE: '1' }, 'SHOAL_LAUNCHER', '"mpirun"');
  configError(t, { SHOAL_LAUNCHER: 'shoal' }, 'SHOAL_LAUNCHER=shoal', 'SHOAL_RANK');
});

test('SHOAL_COORDINATOR parsing and errors', (t) => {
  t.deepEqual(parseCoordinator('node1:29500'), { host: 'node1', port: 29500 });
  t.deepEqual(parseCoordinator(' [::1]:7 '), { host: '::1', port: 7 });
  t.is(formatAddress({ host: '::1', port: 7 }), '[::1]:7');
  t.is(formatAddress({ host: 'a', port: 7 }), 'a:7');
  for (const [value, why] of [
    ['node1', 'port is missing'],
    ['node1:', 'not an integer'],
    ['node1:0', 'outside 1..65535'],
    ['node1:65536', 'outside 1..65535'],
    ['node1:http', 'not an integer'],
    [':29500', 'host is empty'],
    ['::1:29500', 'brackets'],
    ['a b:1', 'spaces'],
  ] as const) {
    const env = { SHOAL_RANK: '0', SHOAL_SIZE: '2', SHOAL_COORDINATOR: value };
    configError(t, env, 'SHOAL_COORDINATOR', JSON.stringify(value), why);
  }
});

test('SHOAL_TOKEN, SHOAL_TIMEOUT_MS and SHOAL_BIND_HOST validation', (t) => {
  configError(t, { ...COORD, SHOAL_TOKEN: '  ' }, 'SHOAL_TOKEN');
  configError(t, { SHOAL_TIMEOUT_MS: '0' }, 'SHOAL_TIMEOUT_MS', '"0"');
  configError(t, { SHOAL_TIMEOUT_MS: '10s' }, 'SHOAL_TIMEOUT_MS', '"10s"');
  configError(t, { SHOAL_BIND_HOST: 'a b' }, 'SHOAL_BIND_HOST');
  t.is(detectEnv({ SHOAL_TIMEOUT_MS: '250' }).timeoutMs, 250);
});

test('hostsCoordinator only when the coordinator address is local', (t) => {
  const base = { OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '2', SHOAL_TOKEN: 'k' };
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '0.0.0.0']) {
    t.true(detectEnv({ ...base, SHOAL_COORDINATOR: `${host}:1` }).hostsCoordinator, host);
  }
  t.true(detectEnv({ ...base, SHOAL_COORDINATOR: '[::1]:1' }).hostsCoordinator);
  t.false(detectEnv({ ...base, SHOAL_COORDINATOR: 'coordinator.example.invalid:1' }).hostsCoordinator);
  t.true(isLocalAddress('LOCALHOST'));
  t.false(isLocalAddress('192.0.2.77'));
});

test('coordinatorListenHost: IPs as given, names on all interfaces', (t) => {
  t.is(coordinatorListenHost({ host: '127.0.0.1', port: 1 }), '127.0.0.1');
  t.is(coordinatorListenHost({ host: '10.1.2.3', port: 1 }), '10.1.2.3');
  t.is(coordinatorListenHost({ host: '::1', port: 1 }), '::1');
  t.is(coordinatorListenHost({ host: 'localhost', port: 1 }), '127.0.0.1');
  t.is(coordinatorListenHost({ host: 'node-0.train', port: 1 }), '0.0.0.0');
});
