// The coordinator handshake's proof of the job secret. The token never travels on the wire: the
// coordinator sends a fresh random nonce and the rank answers with an HMAC over the nonce and
// its rank, so a recorded answer cannot be replayed on another connection or for another rank.
// This file owns only the arithmetic; coordinator.ts and coordinator_client.ts own the protocol.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

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

/**
 * The dashboard's read-only token: HMAC-SHA256(secret, 'shoal-viewer-v1'), hex. It opens the
 * dashboard and /metrics but not the admin routes, and the job secret cannot be computed from it,
 * so it is the token that may appear in URLs, logs and browser history.
 */
export function viewerToken(secret: string): string {
  return createHmac('sha256', secret).update('shoal-viewer-v1').digest('hex');
}

/**
 * Compares a token someone sent with a secret in constant time. Both sides are hashed first so
 * neither the content nor the length of the secret shows in the timing.
 */
export function sameSecret(given: string, secret: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(secret).digest();
  return timingSafeEqual(a, b);
}
