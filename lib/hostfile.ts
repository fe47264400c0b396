// Hostfiles for `shoal run --hostfile`: which hosts a job may use and how many ranks each takes,
// in the OpenMPI format people already have (`host [slots=N]`, `#` comments), and the mapping of
// ranks onto those slots. Parsing only; launcher.ts decides how to start a rank on a host.

import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';

export interface HostSlots {
  host: string;
  slots: number;
}

export interface RankPlacement {
  rank: number;
  host: string;
  /** Index of this rank among the ranks placed on the same host. */
  localRank: number;
}

const HOST_PATTERN = /^[A-Za-z0-9_.:\[\]%-]+$/;

/**
 * Parses hostfile text. Repeated hosts add their slots together (as OpenMPI does).
 * @throws {ConfigError} ERR_CONFIG naming `file:line` and the offending text.
 */
export function parseHostfile(text: string, file: string): HostSlots[] {
  const hosts: HostSlots[] = [];
  const byName = new Map<string, HostSlots>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const where = `${file}:${i + 1}`;
    const content = raw.replace(/#.*$/, '').trim();
    if (content === '') return;
    const [host, ...rest] = content.split(/\s+/) as [string, ...string[]];
    if (!HOST_PATTERN.test(host) || host.includes('=')) {
      throw new ConfigError('ERR_CONFIG', `${where}: ${JSON.stringify(host)} is not a host name or address`);
    }
    let slots = 1;
    for (const token of rest) {
      const m = /^(slots|max_slots)=(.*)$/.exec(token);
      if (!m) throw new ConfigError('ERR_CONFIG', `${where}: unknown field ${JSON.stringify(token)} (expected "host [slots=N]")`);
      if (!/^\d+$/.test(m[2] ?? '') || Number(m[2]) < 1) {
        throw new ConfigError('ERR_CONFIG', `${where}: ${m[1]} must be a positive integer, got ${JSON.stringify(m[2])}`);
      }
      // max_slots caps oversubscription in OpenMPI; we never oversubscribe past the file, so only slots matters.
      if (m[1] === 'slots') slots = Number(m[2]);
    }
    const seen = byName.get(host);
    if (seen) {
      seen.slots += slots;
    } else {
      const entry = { host, slots };
      byName.set(host, entry);
      hosts.push(entry);
    }
  });
  if (hosts.length === 0) throw new ConfigError('ERR_CONFIG', `${file}: the hostfile lists no hosts`);
  return hosts;
}

/**
 * Reads and parses a hostfile.
 * @throws {ConfigError} ERR_CONFIG when the file cannot be read or is malformed.
 */
export function readHostfile(file: string): HostSlots[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('ERR_CONFIG', `cannot read hostfile ${file}: ${(err as Error).message}`);
  }
  return parseHostfile(text, file);
}

/** Total slots in a hostfile: the default rank count when -np is not given. */
export function totalSlots(hosts: readonly HostSlots[]): number {
  return hosts.reduce((n, h) => n + h.slots, 0);
}

/**
 * Places `np` ranks round-robin over the slots in file order (host A's slots, then host B's, …),
 * wrapping around when np exceeds the slots, so ranks on one host are contiguous.
 */
export function placeRanks(hosts: readonly HostSlots[], np: number): RankPlacement[] {
  const total = totalSlots(hosts);
  if (total === 0) throw new ConfigError('ERR_CONFIG', 'the hostfile lists no slots');
  const perHost = new Map<string, number>();
  const out: RankPlacement[] = [];
  for (let rank = 0; rank < np; rank++) {
    let slot = rank % total;
    let host = hosts[0]?.host ?? '';
    for (const h of hosts) {
      if (slot < h.slots) {
        host = h.host;
        break;
      }
      slot -= h.slots;
    }
    const localRank = perHost.get(host) ?? 0;
    perHost.set(host, localRank + 1);
    out.push({ rank, host, localRank });
  }
  return out;
}

/** Which hostfile host (index) runs parameter server `index`: round-robin, so replicas land on other hosts. */
export function serverHostIndex(index: number, hostCount: number): number {
  return index % hostCount;
}

/**
 * The host for a worker that replaces one lost (or retired as a straggler) on `from`: the first
 * other host in file order with a slot free of `liveHosts` (the hosts of the workers still
 * running, one entry per worker), else `from` itself.
 */
export function replacementHost(hosts: readonly HostSlots[], liveHosts: readonly string[], from: string): string {
  for (const h of hosts) {
    if (h.host === from) continue;
    const used = liveHosts.filter((x) => x === h.host).length;
    if (used < h.slots) return h.host;
  }
  return from;
}
