// A PS trainer job (`shoal train ftrl|fm`'s worker entry) with every worker and every parameter
// server on a pretend host of its own (test/helpers/netns_hosts.ts): host i < K runs server i,
// host K + r runs worker r, each host's egress capped by tbf (a NIC per machine). Started the way a foreign
// launcher starts a job (docs/launching.md, "Parameter servers under mpirun and srun"): every
// task runs the worker entry with OpenMPI's rank variables and SHOAL_NUM_SERVERS=K, so the
// first K tasks become parameter servers inside init() and follow the workers out; task 0
// (server 0) hosts the coordinator. `shoal run --hostfile` cannot be used here: it puts
// server 0 on the hostfile's first host, which also takes the first worker.
import { randomBytes } from 'node:crypto';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NetnsHosts } from '../test/helpers/netns_hosts.js';

export interface PsNetnsJobOptions {
  /** Most workers a job will have (one host each). */
  maxWorkers: number;
  servers: number;
  /** Egress cap of every host, Mbit/s. */
  rateMbit: number;
}

/** Parses `--rate` values: 100, 100mbit, 1gbit (Mbit/s). */
export function parseRateMbit(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(mbit|gbit)?$/i.exec(raw.trim());
  if (!m) throw new Error(`--rate: expected Mbit/s as N, Nmbit or Ngbit, got ${JSON.stringify(raw)}`);
  const v = Number(m[1]) * (m[2]?.toLowerCase() === 'gbit' ? 1000 : 1);
  if (!(v > 0)) throw new Error(`--rate must be > 0, got ${JSON.stringify(raw)}`);
  return v;
}

export class PsNetnsJob {
  readonly hosts: NetnsHosts;
  readonly #o: PsNetnsJobOptions;
  #port = 20000 + Math.floor(Math.random() * 20000);

  constructor(o: PsNetnsJobOptions) {
    this.#o = o;
    this.hosts = NetnsHosts.create({ hosts: o.servers + o.maxWorkers, rateMbit: o.rateMbit });
  }

  /** Caps every host's egress at `mbit` (replaces the cap). */
  setRate(mbit: number): void {
    this.#o.rateMbit = mbit;
    for (let i = 0; i < this.hosts.names.length; i++) this.hosts.setRate(i, mbit);
  }

  /** Bytes each host has sent so far (eth0's tx counter): servers first, then workers. */
  txBytes(): number[] {
    return this.hosts.names.map((ns) => {
      const r = spawnSync('ip', ['-n', ns, '-s', '-j', 'link', 'show', 'eth0'], { encoding: 'utf8', timeout: 20_000 });
      const link = (JSON.parse(r.stdout || '[]') as Array<{ stats64?: { tx?: { bytes?: number } } }>)[0];
      return link?.stats64?.tx?.bytes ?? NaN;
    });
  }

  /**
   * Runs one job of `algo` with `workers` workers and the worker entry's argv; resolves with
   * worker rank 0's exit code and the bytes each host sent during the job (servers, then workers).
   */
  async run(algo: 'ftrl' | 'fm', workers: number, argv: readonly string[], timeoutMs = 600_000): Promise<{ code: number; txBytes: number[] }> {
    const { servers } = this.#o;
    if (workers > this.#o.maxWorkers) throw new RangeError(`netns job: ${workers} workers, but hosts for ${this.#o.maxWorkers}`);
    const entry = fileURLToPath(new URL(`../algorithms/${algo}/worker.js`, import.meta.url));
    const tasks = workers + servers;
    const port = this.#port++;
    const token = randomBytes(16).toString('hex');
    const tx0 = this.txBytes();
    const children: ChildProcess[] = [];
    const exits: Array<Promise<{ task: number; code: number | null; stderr: string }>> = [];
    for (let t = 0; t < tasks; t++) {
      const host = t;
      const env = {
        ...process.env,
        OMPI_COMM_WORLD_RANK: String(t),
        OMPI_COMM_WORLD_SIZE: String(tasks),
        OMPI_COMM_WORLD_LOCAL_RANK: '0',
        OMPI_MCA_ess_base_jobid: `netns-${port}`,
        SHOAL_NUM_SERVERS: String(servers),
        SHOAL_COORDINATOR: `${this.hosts.addrs[0]}:${port}`,
        SHOAL_BIND_HOST: this.hosts.addrs[host]!,
        SHOAL_TOKEN: token,
      };
      const child = this.hosts.spawn(host, [process.execPath, entry, ...argv], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(child);
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
      exits.push(new Promise((resolve) => child.on('close', (code) => resolve({ task: t, code, stderr }))));
    }
    const timer = setTimeout(() => {
      for (let i = 0; i < this.hosts.names.length; i++) this.hosts.killHost(i);
    }, timeoutMs);
    try {
      const done = await Promise.all(exits);
      const failed = done.find((d) => d.code !== 0);
      if (failed) process.stderr.write(`netns job: task ${failed.task} (${failed.task < servers ? `server ${failed.task}` : `worker ${failed.task - servers}`}) exited ${failed.code}:\n${failed.stderr}\n`);
      const tx = this.txBytes().slice(0, tasks);
      return { code: done[servers]!.code ?? 1, txBytes: tx.map((b, i) => b - tx0[i]!) };
    } finally {
      clearTimeout(timer);
    }
  }

  destroy(): void {
    this.hosts.destroy();
  }
}
