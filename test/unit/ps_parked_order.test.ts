// A server whose replica links are not up yet parks the pushes it gets (native/psnet/server.cc);
// a pull or clock sent behind such a push on the same connection must wait for it too, or it is
// answered without a push the worker sent before it (the pipelined trainers rely on that order,
// algorithms/ps_trainer/step_pipeline.ts). The peer server here is a TCP listener that holds the
// replica link's handshake for a while, then drops it (the server then counts that peer lost).
import test from 'ava';
import { createServer, type Socket } from 'node:net';
import { native } from '../../lib/native.js';
import { PsClient } from '../../lib/ps/client.js';
import { TOKEN, type NativeServer } from '../helpers/ps_inprocess.js';

test('a pull sent right behind a push parked for the replica links answers with that push', async (t) => {
  const held: Socket[] = [];
  const peer = createServer((s) => {
    held.push(s);
    setTimeout(() => s.destroy(), 1500);
  });
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  const peerPort = (peer.address() as { port: number }).port;
  const { NativePsServer } = native as unknown as { NativePsServer: new (o: object) => NativeServer };
  const server = new NativePsServer({ rank: 0, numServers: 2, numWorkers: 1, token: TOKEN, replication: 2 });
  server.start([{ host: '127.0.0.1', port: server.port }, { host: '127.0.0.1', port: peerPort }]);
  let client: PsClient | null = null;
  try {
    client = await PsClient.connect([{ host: '127.0.0.1', port: server.port }], { workerRank: 0, numWorkers: 1, token: TOKEN, replication: 1 }, { timeoutMs: 30_000 });
    const table = await client.table('parked', { dim: 1 });
    const keys = BigUint64Array.of(1n, 2n, 3n);
    // Not awaited: the pull goes out behind the push on the same connection, as in --pipeline.
    const pushed = table.push(keys, Float32Array.of(1, 2, 3));
    const pulled = table.pull(keys);
    const [, rows] = await Promise.all([pushed, pulled]);
    t.deepEqual(Array.from(rows), [1, 2, 3]);
    t.true(held.length > 0, 'the replica link was dialed and held');
  } finally {
    await client?.close();
    server.stop();
    for (const s of held) s.destroy();
    peer.close();
  }
});
