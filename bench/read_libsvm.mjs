// Reads one libsvm file (plain or .gz) the way a rank does and prints its rows: run it under
// `/usr/bin/time -v` to see the reader's peak RSS (docs/data.md, "gzip").
//   /usr/bin/time -v node bench/read_libsvm.mjs FILE [RANK SIZE]
import { readLibsvm } from '../dist/lib/data/libsvm.js';

const [file, rank = '0', size = '1'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/read_libsvm.mjs FILE [RANK SIZE]');
  process.exit(2);
}
const rows = await readLibsvm(file, { rank: Number(rank), size: Number(size) });
console.log(`${file} share ${rank}/${size}: ${rows.numRows} rows`);
