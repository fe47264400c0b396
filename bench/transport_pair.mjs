// The data path alone: two engines in this process (comm threads pinned to CPUs 0 and 1)
// all-reduce one buffer over a forced transport, alternating tcp and shm so both see the same
// machine. No launcher, coordinator or JS-side barrier in the timed part.
//   node bench/transport_pair.mjs [MiB=16] [rounds=3] [calls=15]
import { native, OP_KIND } from '../dist/lib/native.js';

const [mib, rounds, calls] = [Number(process.argv[2] ?? 16), Number(process.argv[3] ?? 3), Number(process.argv[4] ?? 15)];

async function measure(transport) {
  const opts = { size: 2, commId: 7, token: 'transport-pair', transport };
  const a = new native.NativeComm({ ...opts, rank: 0, cpu: 0 });
  const b = new native.NativeComm({ ...opts, rank: 1, cpu: 1 });
  const peers = [{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: b.port }];
  await Promise.all([a.connect(peers, 10_000), b.connect(peers, 10_000)]);
  const x = new Float32Array((mib << 20) / 4).fill(1);
  const y = new Float32Array((mib << 20) / 4).fill(2);
  const ms = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await Promise.all([a.collective(OP_KIND.allReduce, x, null, 0, -1, 60_000), b.collective(OP_KIND.allReduce, y, null, 0, -1, 60_000)]);
    ms.push(performance.now() - t0);
  }
  await Promise.all([a.close(), b.close()]);
  ms.sort((p, q) => p - q);
  return { med: ms[ms.length >> 1], min: ms[0] };
}

for (let r = 0; r < rounds; r++) {
  for (const t of ['tcp', 'shm']) {
    const { med, min } = await measure(t);
    console.log(`${t} ${mib} MiB allReduce: med_ms=${med.toFixed(2)} min_ms=${min.toFixed(2)}`);
  }
}
