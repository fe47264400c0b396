// The coordinator handshake's proof of the job secret. The token never travels on the wire: the
// coordinator sends a fresh random nonce and the rank answers with an HMAC over the nonce and
// its rank, so a recorded answer cannot be replayed on another connection or for another rank.
// This file owns only the arithmetic; coordinator.ts and coordinator_client.ts own the protocol.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Protocol tag mixed into every proof, so a proof for another protocol/version never verifies. */
export const COORDINATOR_PROTOCOL = 'shoal-coord-v1';

/** A fresh challenge: 32 random bytes, hex. */
export function makeNonce(): string {
  return randomBytes(32).toString('hex');
}

/** A fresh job secret for launchers: 32 random bytes, hex. */
export function makeToken(): string {
  return randomBytes(32).toString('hex');
}

/** HMAC-SHA256(token, 'shoal-coord-v1|' + nonce + '|' + rank), hex. */
export function coordinatorProof(token: string, nonce: string, rank: number): string {
  return createHmac('sha256', token).update(`${COORDINATOR_PROTOCOL}|${nonce}|${rank}`).digest('hex');
}

/** Constant-time check of a proof received from a rank. */
export function verifyCoordinatorProof(token: string, nonce: string, rank: number, proof: unknown): boolean {
  if (typeof proof !== 'string' || !/^[0-9a-f]{64}$/.test(proof)) return false;
  const expected = Buffer.from(coordinatorProof(token, nonce, rank), 'hex');
  return timingSafeEqual(expected, Buffer.from(proof, 'hex'));
}
