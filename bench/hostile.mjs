// Strangers against a PS server and a rank listener (docs/parameter_server.md, "Wire protocol
// and security"): `node bench/hostile.mjs [N]` after `npm run build`. Prints how long an
// honest worker's connect + pushes + pull and a 2-rank rendezvous take with N silent TCP
// connections on the port, and the RSS cost of a connection announcing 256 MiB and sending
// 100 bytes. Everything runs in this process (native threads, loopback TCP).
const dist = new URL('../dist/', import.meta.url).href;
const { native } = await import(`${dist}lib/native.js`);
const { startServer, connectWorker, roundTrip, TOKEN } = await import(`${dist}test/helpers/ps_inprocess.js`);
const { authenticate, dial, psMessage, PS_COMM_ID, PS_HANDSHAKE_SIZE, PS_TYPE } = await import(`${dist}test/helpers/shoal_wire.js`);

const N = Number(process.argv[2] ?? 4);

async function silent(port, n) {
  const sockets = [];
  for (let i = 0; i < n; i++) sockets.push((await dial(port)).socket);
  return sockets;
}

// The parameter server.
{
  const server = startServer();
  const strangers = await silent(server.port, N);
  const t0 = Date.now();
  let client;
  try {
    client = await connectWorker(server, 120_000);
  } catch (err) {
    console.log(`PS, ${N} silent strangers: the worker could not connect (${Date.now() - t0} ms): ${err.message.slice(0, 160)}`);
  }
  if (client) {
    const ok = await roundTrip(client, 'bench', 100);
    console.log(`PS, ${N} silent strangers: connect + table + 2 pushes + pull: ${Date.now() - t0} ms (values ${ok ? 'right' : 'WRONG'})`);
    const table = await client.table('bench', { dim: 2 });
    strangers.push(...(await silent(server.port, N)));
    const t1 = Date.now();
    await table.pull(new BigUint64Array([1n]));
    console.log(`PS: one pull right after ${N} more silent strangers connected: ${Date.now() - t1} ms`);
    await client.close();
  }
  const rssBefore = process.memoryUsage().rss;
  const c = await dial(server.port);
  await authenticate(c.socket, c.reader, { token: TOKEN, commId: PS_COMM_ID, fromRank: 0, toRank: 0, size: PS_HANDSHAKE_SIZE });
  c.socket.write(psMessage({ type: PS_TYPE.push, tableId: 1, count: 1, payloadBytes: 256n << 20n }, Buffer.alloc(100)));
  await new Promise((resolve) => setTimeout(resolve, 500));
  console.log(`PS: RSS growth, one connection announcing 256 MiB and sending 100 B: ${((process.memoryUsage().rss - rssBefore) / 2 ** 20).toFixed(1)} MiB`);
  c.socket.destroy();
  for (const s of strangers) s.destroy();
  server.stop();
}

// A rank's rendezvous.
{
  const a = new native.NativeComm({ rank: 0, size: 2, commId: 3, token: 'bench' });
  const b = new native.NativeComm({ rank: 1, size: 2, commId: 3, token: 'bench' });
  const peers = [a, b].map((r) => ({ host: '127.0.0.1', port: r.port }));
  const strangers = await silent(a.port, N);
  const t0 = Date.now();
  await Promise.all([a.connect(peers, 120_000), b.connect(peers, 120_000)]);
  console.log(`ranks, ${N} silent strangers on rank 0: 2-rank rendezvous: ${Date.now() - t0} ms`);
  for (const s of strangers) s.destroy();
  await Promise.all([a.close(), b.close()]);
}
process.exit(0);
