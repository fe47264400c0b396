// Latency per size through the Promise API: npx shoal run -np 2 node bench/latency.mjs
import { init } from '../dist/lib/index.js';
const comm = await init();
for (const bytes of [8, 65536, 1<<20, 16<<20, 64<<20]) {
  const buf = new Float32Array(bytes/4);
  const iters = bytes <= 65536 ? 2000 : bytes <= 1<<20 ? 100 : 10;
  for (let i=0;i<Math.min(iters,20);i++) await comm.allReduce(buf);
  const ts=[];
  for (let i=0;i<iters;i++){ await comm.barrier(); const t0=process.hrtime.bigint(); await comm.allReduce(buf); ts.push(Number(process.hrtime.bigint()-t0)/1e3); }
  ts.sort((a,b)=>a-b);
  if (comm.rank===0) console.log(`np=${comm.size} bytes=${bytes} med_us=${ts[ts.length>>1].toFixed(1)} min_us=${ts[0].toFixed(1)}`);
}
await comm.close();
