// What a restarted coordinator needs to carry on a job (docs/fault_tolerance.md): the epoch,
// the job's sizes, completed groups' tables (workers look up the servers there), who was lost
// and who was alive. Written (atomically: tmp + rename) on every change, read once at start;
// everything else (heartbeats, metrics, pending rendezvous) is rebuilt from the processes,
// which reconnect and re-send what they were waiting for.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

import { ConfigError } from './errors.js';
import type { PeerEndpoint } from './coordinator_protocol.js';

export interface CoordinatorSnapshot {
  version: 1;
  epoch: number;
  jobSize: { size: number; rank: number } | null;
  serverCount: number | null;
  completed: Record<string, PeerEndpoint[]>;
  /** Identities (worker rank, or SERVER_ID_BASE + server rank) declared lost. */
  lost: number[];
  /** Identities connected and alive when the snapshot was taken: expected back after a restart. */
  alive: number[];
}

export function saveCoordinatorState(path: string, snapshot: CoordinatorSnapshot): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(snapshot));
  renameSync(tmp, path);
}

/** The saved state, or null when there is none yet (first start). @throws {ConfigError} for a corrupt file. */
export function loadCoordinatorState(path: string): CoordinatorSnapshot | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ConfigError('ERR_CONFIG', `coordinator state file ${path}: ${(err as Error).message}`);
  }
  try {
    const s = JSON.parse(text) as CoordinatorSnapshot;
    if (s.version !== 1 || !Number.isInteger(s.epoch) || !Array.isArray(s.lost) || !Array.isArray(s.alive) || typeof s.completed !== 'object') throw new Error('unexpected shape');
    return s;
  } catch (err) {
    throw new ConfigError('ERR_CONFIG', `coordinator state file ${path} is corrupt: ${(err as Error).message}`);
  }
}
