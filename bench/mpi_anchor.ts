// The OpenMPI reference for bench/collectives.ts: compiles
// <repo>/../shared/anchors/collectives/mpi_coll.c into bench/results/mpi_coll with mpicc and runs
// it under mpirun over TCP loopback (pml ob1, btl tcp,self: the fair comparison for Shoal's TCP
// transport) or over OpenMPI's shared-memory BTL (vader,self: its default on one host), parsing
// its `RES op=.. np=.. bytes=.. ...` lines.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

export interface MpiRow {
  op: string;
  np: number;
  bytes: number;
  iters: number;
  med_us: number;
  min_us: number;
  p90_us: number;
  algbw_GBs: number;
  busbw_GBs: number;
  b2b_us: number | null;
}

export interface MpiRun {
  ok: boolean;
  rows: MpiRow[];
  /** The `# Open MPI v...` banner line, without '# '. */
  library: string | null;
  checkErrors: number | null;
  /** stderr and non-RES stdout, for diagnostics when !ok. */
  log: string[];
}

/** Absolute path of `name` on PATH, or null. */
export function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const full = join(dir, name);
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      /* not here */
    }
  }
  return null;
}

export function mpiAvailable(): boolean {
  return which('mpicc') !== null && which('mpirun') !== null;
}

/** Compiles `source` to `binary` unless the binary is newer than the source. Throws with mpicc's output on failure. */
export function buildMpiColl(source: string, binary: string): void {
  if (!existsSync(source)) throw new Error(`mpi_coll.c not found at ${source}`);
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) return;
  mkdirSync(dirname(binary), { recursive: true });
  const r = spawnSync('mpicc', ['-O2', source, '-o', binary], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mpicc failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
}

/** Parses one `RES op=allreduce np=2 bytes=8 ... b2b_us=NA` line. */
export function parseMpiLine(line: string): MpiRow | null {
  if (!line.startsWith('RES ')) return null;
  const kv = new Map<string, string>();
  for (const tok of line.slice(4).trim().split(/\s+/)) {
    const eq = tok.indexOf('=');
    if (eq > 0) kv.set(tok.slice(0, eq), tok.slice(eq + 1));
  }
  const num = (k: string): number => {
    const v = Number(kv.get(k));
    if (!Number.isFinite(v)) throw new Error(`mpi_coll: bad ${k} in: ${line}`);
    return v;
  };
  const b2b = kv.get('b2b_us');
  return {
    op: kv.get('op') ?? '?',
    np: num('np'),
    bytes: num('bytes'),
    iters: num('iters'),
    med_us: num('med_us'),
    min_us: num('min_us'),
    p90_us: num('p90_us'),
    algbw_GBs: num('algbw_GBs'),
    busbw_GBs: num('busbw_GBs'),
    b2b_us: b2b === undefined || b2b === 'NA' ? null : Number(b2b),
  };
}

/**
 * Runs `mpirun ... binary time sizes...` with np ranks over TCP loopback.
 * Kills the run (SIGTERM, then SIGKILL) after timeoutMs.
 */
export type MpiBtl = 'tcp' | 'sm';

/** mpirun arguments that pick the transport: TCP over loopback, or the shared-memory BTL. */
export function mpiBtlArgs(btl: MpiBtl): string[] {
  return btl === 'tcp' ? ['--mca', 'pml', 'ob1', '--mca', 'btl', 'tcp,self', '--mca', 'btl_tcp_if_include', 'lo'] : ['--mca', 'pml', 'ob1', '--mca', 'btl', 'vader,self'];
}

export function runMpiColl(binary: string, np: number, timeS: number, sizes: number[], timeoutMs: number, btl: MpiBtl = 'tcp'): Promise<MpiRun> {
  const args = [
    '--allow-run-as-root',
    '--oversubscribe',
    '-np', String(np),
    ...mpiBtlArgs(btl),
    binary,
    String(timeS),
    ...sizes.map(String),
  ];
  return new Promise((resolvePromise) => {
    const out: MpiRun = { ok: false, rows: [], library: null, checkErrors: null, log: [] };
    const child = spawn('mpirun', args, { cwd: dirname(binary), stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = { stdout: '', stderr: '' };
    const onData = (stream: 'stdout' | 'stderr', chunk: Buffer): void => {
      pending[stream] += chunk.toString('utf8');
      let nl: number;
      while ((nl = pending[stream].indexOf('\n')) >= 0) {
        const line = pending[stream].slice(0, nl);
        pending[stream] = pending[stream].slice(nl + 1);
        handle(stream, line);
      }
    };
    const handle = (stream: 'stdout' | 'stderr', line: string): void => {
      if (stream === 'stdout') {
        const row = parseMpiLine(line);
        if (row) return void out.rows.push(row);
        if (line.startsWith('# Open MPI') || line.startsWith('# MPICH')) out.library = line.slice(2);
        const m = /^# check_errors=(\d+)/.exec(line);
        if (m) out.checkErrors = Number(m[1]);
      }
      if (line.trim()) out.log.push(`${stream}: ${line}`);
    };
    child.stdout.on('data', (c: Buffer) => onData('stdout', c));
    child.stderr.on('data', (c: Buffer) => onData('stderr', c));
    let killTimer: NodeJS.Timeout | null = null;
    const timer = setTimeout(() => {
      out.log.push(`mpirun timed out after ${timeoutMs} ms`);
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 5000);
    }, timeoutMs);
    child.on('error', (err) => {
      out.log.push(`spawn mpirun: ${err.message}`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      for (const s of ['stdout', 'stderr'] as const) if (pending[s]) handle(s, pending[s]);
      pending = { stdout: '', stderr: '' };
      out.ok = code === 0 && out.checkErrors === 0;
      if (code !== 0) out.log.push(`mpirun exited with ${code ?? signal}`);
      resolvePromise(out);
    });
  });
}
