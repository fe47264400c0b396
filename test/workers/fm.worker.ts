// One worker of a `shoal train fm` job, for test/algorithms/fm.test.ts: the trainer's own
// entry (algorithms/fm/worker.ts) with the same flags.
import { runFmWorker } from '../../algorithms/fm/worker.js';
import { runEntry } from '../../algorithms/ps_trainer/job.js';

runEntry(() => runFmWorker(process.argv.slice(2)));
