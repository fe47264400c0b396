// Pretend hosts for multi-host tests and benchmarks: N Linux network namespaces, each with one
// interface (eth0, 10.77.0.<i+1>/24) on a bridge that lives in a namespace of its own, and an
// egress cap per host (tbf; netem is not in every kernel). Nothing is added to the caller's
// namespace: the addresses exist only inside the namespaces, so a process must be started in
// one (spawn(), or the generated rsh stand-in that `shoal run --rsh` and `mpirun --mca
// plm_rsh_agent` call) to reach them. Names carry this process's pid and a counter, so
// parallel ava workers never collide; destroy() kills every process in the namespaces and
// deletes them, and runs again at exit; namespaces left by a process that died are swept at
// the next create().
//
// Needs root, `ip` and `tc` (iproute2). netnsUnavailable() says why not, for a test's skip.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PREFIX = 'shl';
let counter = 0;
const live = new Set<NetnsHosts>();
process.on('exit', () => {
  for (const h of live) h.destroy();
});

function ip(args: string[], check = true): string {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 20_000 });
  if (check && r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
  return r.stdout ?? '';
}

function tc(args: string[]): void {
  const r = spawnSync('tc', args, { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`tc ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids of every process inside namespace `ns`. */
function nsPids(ns: string): number[] {
  return ip(['netns', 'pids', ns], false).split(/\s+/).filter(Boolean).map(Number);
}

function deleteNamespace(ns: string): void {
  // A namespace stays alive while a process is in it: kill them first (twice: a dying rank's
  // launcher may still fork a replacement into it).
  for (let round = 0; round < 2; round++) {
    for (const pid of nsPids(ns)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  ip(['netns', 'del', ns], false);
}

/** Removes namespaces a previous test process created and could not delete (it was killed). */
function sweepStale(): void {
  for (const line of ip(['netns', 'list'], false).split('\n')) {
    const m = new RegExp(`^(${PREFIX}([0-9a-z]+)x\\d+-\\w+)`).exec(line.trim());
    if (m && !alive(parseInt(m[2]!, 36))) deleteNamespace(m[1]!);
  }
}

/** Why namespace hosts cannot be made here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not root: network namespaces need CAP_SYS_ADMIN';
  for (const cmd of ['ip', 'tc']) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0) return `no ${cmd} command (install iproute2)`;
  }
  const probe = `${PREFIX}${process.pid.toString(36)}x${counter++}-probe`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.status !== 0) return `cannot create a network namespace: ${r.stderr.trim()}`;
  ip(['netns', 'del', probe], false);
  return null;
}

export interface NetnsHostsOptions {
  hosts: number;
  /** Egress cap of each host in Mbit/s (one value for all, or one per host); undefined: no cap. */
  rateMbit?: number | (number | undefined)[];
}

export class NetnsHosts {
  /** Namespace name of each host. */
  readonly names: string[];
  /** Address of each host (10.77.0.1, ...). */
  readonly addrs: string[];
  /** Temp dir holding the rsh stand-in and hostfiles. */
  readonly dir: string;
  /** The rsh stand-in: `rsh [-opts] <host address> <command...>` runs the command in that host's namespace. */
  readonly rsh: string;
  private readonly switchNs: string;
  private destroyed = false;

  private constructor(n: number) {
    const id = `${PREFIX}${process.pid.toString(36)}x${counter++}`;
    this.switchNs = `${id}-sw`;
    this.names = Array.from({ length: n }, (_, i) => `${id}-h${i}`);
    this.addrs = this.names.map((_, i) => `10.77.0.${i + 1}`);
    this.dir = mkdtempSync(join(tmpdir(), 'shoal-netns-'));
    this.rsh = join(this.dir, 'rsh');
  }

  /** Makes the hosts (synchronously, a second or so); throws with the failing command. */
  static create(opts: NetnsHostsOptions): NetnsHosts {
    if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > 200) throw new RangeError(`hosts must be 1..200, got ${opts.hosts}`);
    sweepStale();
    const h = new NetnsHosts(opts.hosts);
    live.add(h);
    try {
      h.build(opts);
    } catch (err) {
      h.destroy();
      throw err;
    }
    return h;
  }

  private build(opts: NetnsHostsOptions): void {
    const sw = this.switchNs;
    ip(['netns', 'add', sw]);
    ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', sw, 'link', 'set', 'br0', 'up']);
    this.names.forEach((ns, i) => {
      ip(['netns', 'add', ns]);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      ip(['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `v${i}`, 'netns', sw]);
      ip(['-n', sw, 'link', 'set', `v${i}`, 'master', 'br0']);
      ip(['-n', sw, 'link', 'set', `v${i}`, 'up']);
      ip(['-n', ns, 'addr', 'add', `${this.addrs[i]}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      const rate = Array.isArray(opts.rateMbit) ? opts.rateMbit[i] : opts.rateMbit;
      if (rate !== undefined) this.setRate(i, rate);
    });
    const cases = this.addrs.map((a, i) => `  ${a}) ns=${this.names[i]} ;;`).join('\n');
    writeFileSync(
      this.rsh,
      `#!/bin/sh
# rsh stand-in for namespace hosts (test/helpers/netns_hosts.ts): runs the command line in the
# host's network namespace through a shell, as sshd would. Leading options (ssh-style) are ignored.
while [ $# -gt 0 ]; do case "$1" in -*) shift ;; *) break ;; esac; done
host=$1
shift
case "$host" in
${cases}
  *) echo "netns rsh: no namespace host $host" >&2; exit 255 ;;
esac
exec ip netns exec "$ns" unshare --uts /bin/sh -c 'hostname "$0" && exec /bin/sh -c "$1"' "$ns" "$*"
`,
    );
    chmodSync(this.rsh, 0o755);
  }

  /** Caps host i's egress at `mbit` Mbit/s (token bucket; replaces an earlier cap). */
  setRate(i: number, mbit: number): void {
    // Burst: at least one timer tick's worth of bytes at this rate, so the cap is reachable.
    const burst = Math.max(32 * 1024, Math.ceil((mbit * 1e6) / 8 / 250));
    tc(['-n', this.names[i]!, 'qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', `${mbit}mbit`, 'burst', String(burst), 'latency', '50ms']);
  }

  /** Writes an OpenMPI-style hostfile with `slots` per host (one value, or one per host); returns its path. */
  hostfile(slots: number | number[], name = 'hostfile'): string {
    const file = join(this.dir, name);
    writeFileSync(file, this.addrs.map((a, i) => `${a} slots=${Array.isArray(slots) ? slots[i] : slots}\n`).join(''));
    return file;
  }

  /** Starts `cmd` inside host i's namespace. */
  spawn(i: number, cmd: string[], opts: SpawnOptions = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.names[i]!, ...this.ownHostname(i), ...cmd], opts);
  }

  /** Command prefix giving a process the host's own hostname (UTS namespace): OpenMPI tells nodes apart by name. */
  private ownHostname(i: number): string[] {
    return ['unshare', '--uts', '/bin/sh', '-c', 'hostname "$0" && exec "$@"', this.names[i]!];
  }

  /** Pids of every process on host i. */
  pids(i: number): number[] {
    return nsPids(this.names[i]!);
  }

  /** Kills every process on host i at once (SIGKILL), as a host that loses power; returns how many. */
  killHost(i: number): number {
    const pids = this.pids(i);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    return pids.length;
  }

  /** Kills everything in the namespaces, deletes them and the temp dir. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    for (const ns of this.names) deleteNamespace(ns);
    deleteNamespace(this.switchNs);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
