// A real native parameter server and client in the test process (each on its own I/O
// thread, talking over loopback TCP), for tests that play a hostile peer against the server.
import { native } from '../../lib/native.js';
import { PsClient } from '../../lib/ps/client.js';

export interface NativeServer {
  readonly port: number;
  start(servers: Array<{ host: string; port: number }>): void;
  stats(): string;
  stop(): void;
}

export const TOKEN = 'hostile-test-token';

/** One server (rank 0 of 1, replication 1, one worker), started; stop() it when done. */
export function startServer(options: { maxMessageBytes?: number } = {}): NativeServer {
  const { NativePsServer } = native as unknown as { NativePsServer: new (o: object) => NativeServer };
  const server = new NativePsServer({ rank: 0, numServers: 1, numWorkers: 1, token: TOKEN, replication: 1, ...options });
  server.start([{ host: '127.0.0.1', port: server.port }]);
  return server;
}

/** The worker API (lib/ps/client.ts) connected to `server` as worker 0. */
export function connectWorker(server: NativeServer, timeoutMs: number): Promise<PsClient> {
  return PsClient.connect([{ host: '127.0.0.1', port: server.port }], { workerRank: 0, numWorkers: 1, token: TOKEN, replication: 1 }, { timeoutMs });
}

/** Pushes then pulls `keys` on a fresh add-table and checks the sums: the server still serves. */
export async function roundTrip(client: PsClient, table: string, keys: number): Promise<boolean> {
  const t = await client.table(table, { dim: 2 });
  const k = BigUint64Array.from({ length: keys }, (_, i) => BigInt(i * 7919 + 1));
  const v = Float32Array.from({ length: keys * 2 }, (_, i) => i % 5);
  await t.push(k, v);
  await t.push(k, v);
  const out = await t.pull(k);
  return out.every((x, i) => x === 2 * (i % 5));
}
