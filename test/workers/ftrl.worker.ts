// One worker of a `shoal train ftrl` job, for test/algorithms/ftrl.test.ts: the trainer's own
// entry (algorithms/ftrl/worker.ts) with the same flags.
import { runFtrlWorker } from '../../algorithms/ftrl/worker.js';
import { runEntry } from '../../algorithms/ps_trainer/job.js';

runEntry(() => runFtrlWorker(process.argv.slice(2)));
