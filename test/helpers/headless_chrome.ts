// Headless Chromium driven over the DevTools protocol (a WebSocket on 127.0.0.1): open a page,
// evaluate JS in it. For the dashboard and report tests; `chromiumPath()` is null when no
// browser is installed (the tests skip, saying so).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';

/** SHOAL_CHROMIUM, else the first of chromium / chromium-browser / google-chrome on PATH. */
export function chromiumPath(): string | null {
  if (process.env.SHOAL_CHROMIUM) return process.env.SHOAL_CHROMIUM;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return null;
}

/**
 * Why the browser tests cannot run here (null: they can): no browser, or one that does not start
 * (tried once with --dump-dom about:blank).
 */
export function chromiumUnavailable(): string | null {
  const path = chromiumPath();
  if (path === null) return 'no chromium on PATH (apt-get install chromium, or set SHOAL_CHROMIUM)';
  const r = spawnSync(path, ['--headless', '--no-sandbox', '--disable-gpu', '--dump-dom', 'about:blank'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) return `${path} cannot start: ${r.error?.message ?? (r.stderr.trim().split('\n').pop() || `exit ${r.status}`)}`;
  return null;
}

export interface Page {
  /** The value of `expression` (JSON-serializable), evaluated in the page. */
  evaluate<T>(expression: string): Promise<T>;
  close(): void;
}

export interface Browser {
  open(url: string): Promise<Page>;
  close(): Promise<void>;
}

/** Starts Chromium; rejects (with its stderr) if it does not listen within `timeoutMs`. */
export async function startChromium(path: string, timeoutMs = 60_000): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'shoal-chromium-'));
  const child: ChildProcess = spawn(path, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0', `--user-data-dir=${profile}`, 'about:blank'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
    // Chromium puts its singleton socket in a fresh $TMPDIR/org.chromium.Chromium.* that only a
    // clean exit removes; we SIGKILL it, so keep that directory inside the profile we delete.
    env: { ...process.env, TMPDIR: profile },
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const exited = new Promise((r) => child.once('exit', r));
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      await exited;
    }
    rmSync(profile, { recursive: true, force: true });
  };
  let stderr = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chromium did not start within ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /DevTools listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`chromium exited (${signal ?? code}) before it listened:\n${stderr}`));
    });
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return {
    async open(url) {
      const r = await fetch(`http://127.0.0.1:${port}/json/new?${url}`, { method: 'PUT' });
      if (!r.ok) throw new Error(`chromium: /json/new answered ${r.status}`);
      const target = (await r.json()) as { webSocketDebuggerUrl: string };
      const ws = new WebSocket(target.webSocketDebuggerUrl);
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      let nextId = 1;
      type Reply = { id?: number; result?: { result?: { value?: unknown }; exceptionDetails?: unknown }; error?: unknown };
      const waiting = new Map<number, (m: Reply) => void>();
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as Reply;
        if (m.id === undefined) return;
        waiting.get(m.id)?.(m);
        waiting.delete(m.id);
      });
      return {
        evaluate<T>(expression: string): Promise<T> {
          const id = nextId++;
          return new Promise<T>((resolve, reject) => {
            waiting.set(id, (m) => {
              if (m.error || m.result?.exceptionDetails) reject(new Error(`evaluate ${expression}: ${JSON.stringify(m.error ?? m.result?.exceptionDetails)}`));
              else resolve(m.result?.result?.value as T);
            });
            ws.send(JSON.stringify({ id, method: 'Runtime.evaluate', params: { expression, returnByValue: true, awaitPromise: true } }));
          });
        },
        close: () => ws.close(),
      };
    },
    close: stop,
  };
}

/** Evaluates `expression` every 250 ms until `done(value)` or `timeoutMs`; returns the last value. */
export async function pollPage<T>(page: Page, expression: string, done: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await page.evaluate<T>(expression);
  while (!done(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    v = await page.evaluate<T>(expression);
  }
  return v;
}
