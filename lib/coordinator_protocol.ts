// The wire protocol between ranks and the coordinator: one WebSocket per rank at /v1/ws, JSON
// text frames. This file only declares the messages and their bounds; coordinator.ts (server)
// and coordinator_client.ts (rank) both import it so the two sides cannot drift apart.
//
//   server → client  {type:'challenge', nonce}                       on open
//   client → server  {type:'hello', rank, size, role, pid, host, proof}
//   server → client  {type:'welcome', rank, size, epoch}             hello accepted; epoch: see below
//                    {type:'error', code, message}                   then the server closes (before welcome)
//   client → server  {type:'register', id, group, groupSize, groupRank, host, port, timeoutMs}
//   server → client  {type:'table', id, group, peers:[{rank, host, port}]}  sorted by rank
//                    {type:'registerError', id, code, message}
//   client → server  {type:'heartbeat'} every HEARTBEAT_INTERVAL_MS, {type:'bye'} before closing
//   server → client  {type:'peerDone', rank, role}                  that process said bye: it finished (servers of a
//                    foreign launch stop once every worker has)
//   server → client  {type:'peerLost', rank, role, reason}           role: 'worker' | 'server'
//   client → server  {type:'lookup', id, group, timeoutMs}          a completed group's table (answered like register)
//   client → server  {type:'metrics', data}                         a heartbeat carrying the process's metrics (telemetry.ts)
//   server → client  {type:'stall', message}                        the stall inspector's diagnosis
//   client → server  {type:'waitEpoch', id, after, timeoutMs}        answered {type:'epoch', id, epoch} once epoch > after
//   client → server  {type:'rejoin', id, group, groupRank, host, port}  a replacement takes a completed group's slot:
//                    answered with the group's table; everyone else gets {type:'peerJoined', group, rank, role, host, port}
//   client → server  {type:'extend', id, group, host, port}          a new member (an added parameter server) takes a new
//                    slot (max rank + 1): answered with the table; everyone else gets peerJoined with the new rank
//   client → server  {type:'leave', id, group, groupRank}            a member leaves a completed group (a drained server):
//                    answered with the table without it; everyone else gets {type:'peerLeft', group, rank, role}
//
// Epochs: the world group of epoch 0 is "world"; every lost worker moves the job to the next epoch,
// whose world group is "world#<epoch>" (worldGroupName). Survivors and the lost rank's replacement
// meet there (Communicator.recover); pending world groups of older epochs fail with ERR_PEER_LOST.

import type { ErrorCode } from './errors.js';

export const COORDINATOR_WS_PATH = '/v1/ws';
export const COORDINATOR_HEALTH_PATH = '/v1/health';
export const HEARTBEAT_INTERVAL_MS = 1000;
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 10_000;
/**
 * Under `shoal run` heartbeats reach the coordinator through the launcher's forwarder; the
 * launcher tells the coordinator process it is running this often (IPC 'tick', see
 * Coordinator.forwarderTick).
 */
export const FORWARDER_TICK_MS = 500;
/** Largest frame either side accepts; every message is a few hundred bytes, tables grow ~50 B per rank. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
export const MAX_GROUP_NAME_LENGTH = 256;
export const MAX_HOST_LENGTH = 255;
export const MAX_GROUP_SIZE = 1 << 20;

export interface PeerEndpoint {
  rank: number;
  host: string;
  port: number;
}

export interface ChallengeMessage { type: 'challenge'; nonce: string }
export interface HelloMessage { type: 'hello'; rank: number; size: number; role: 'worker' | 'server'; pid: number; host: string; proof: string }
export interface WelcomeMessage { type: 'welcome'; rank: number; size: number; epoch: number }
export interface ErrorMessage { type: 'error'; code: ErrorCode; message: string }
export interface RegisterMessage {
  type: 'register';
  id: number;
  group: string;
  groupSize: number;
  groupRank: number;
  host: string;
  port: number;
  timeoutMs: number;
}
export interface TableMessage { type: 'table'; id: number; group: string; peers: PeerEndpoint[] }
export interface RegisterErrorMessage { type: 'registerError'; id: number; code: ErrorCode; message: string }
export interface HeartbeatMessage { type: 'heartbeat' }
export interface ByeMessage { type: 'bye' }
export interface PeerDoneMessage { type: 'peerDone'; rank: number; role: 'worker' | 'server' }
export interface PeerLostMessage { type: 'peerLost'; rank: number; role: 'worker' | 'server'; reason: string }
export interface MetricsMessage { type: 'metrics'; data: unknown }
export interface StallMessage { type: 'stall'; message: string }
export interface LookupMessage { type: 'lookup'; id: number; group: string; timeoutMs: number }
export interface WaitEpochMessage { type: 'waitEpoch'; id: number; after: number; timeoutMs: number }
export interface EpochMessage { type: 'epoch'; id: number; epoch: number }
export interface RejoinMessage { type: 'rejoin'; id: number; group: string; groupRank: number; host: string; port: number }
export interface ExtendMessage { type: 'extend'; id: number; group: string; host: string; port: number }
export interface LeaveMessage { type: 'leave'; id: number; group: string; groupRank: number }
export interface PeerLeftMessage { type: 'peerLeft'; group: string; rank: number; role: 'worker' | 'server' }
export interface PeerJoinedMessage { type: 'peerJoined'; group: string; rank: number; role: 'worker' | 'server'; host: string; port: number }

export type ServerMessage = ChallengeMessage | WelcomeMessage | ErrorMessage | TableMessage | RegisterErrorMessage | PeerLostMessage | PeerDoneMessage | StallMessage | EpochMessage | PeerJoinedMessage | PeerLeftMessage;
export type ClientMessage = HelloMessage | RegisterMessage | LookupMessage | MetricsMessage | HeartbeatMessage | ByeMessage | WaitEpochMessage | RejoinMessage | ExtendMessage | LeaveMessage;

/** The world group's rendezvous name in `epoch` (0: "world"). */
export function worldGroupName(epoch: number): string {
  return epoch === 0 ? 'world' : `world#${epoch}`;
}

/** The epoch of a world group name, or null for any other group. */
export function epochOfWorldGroup(group: string): number | null {
  if (group === 'world') return 0;
  const m = /^world#(\d+)$/.exec(group);
  return m ? Number(m[1]) : null;
}

/** Parses one frame into an object with a string `type`, or returns null. */
export function parseMessage(text: string): ({ type: string } & Record<string, unknown>) | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const type = (value as Record<string, unknown>)['type'];
  return typeof type === 'string' ? (value as { type: string } & Record<string, unknown>) : null;
}

export function isIntIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/** "2", "2, 5-7": compact rank lists for messages about large groups. */
export function formatRanks(ranks: readonly number[]): string {
  const sorted = [...ranks].sort((a, b) => a - b);
  const parts: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    const start = sorted[i] as number;
    let end = start;
    while (i + 1 < sorted.length && sorted[i + 1] === end + 1) end = sorted[++i] as number;
    parts.push(end === start ? String(start) : end === start + 1 ? `${start}, ${end}` : `${start}-${end}`);
    i++;
  }
  return parts.join(', ');
}
