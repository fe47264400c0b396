// The MAC on files Shoal writes and later trusts (PS snapshot manifests, training
// checkpoints): HMAC-SHA256 keyed with the job secret SHOAL_TOKEN, over a purpose tag and the
// file's contents, so a file that was tampered with or written by another job (another
// secret) is refused. A job without SHOAL_TOKEN (one process, mpirun without a token) has no
// secret: its files are marked unsigned and carry a plain SHA-256, which catches corruption
// but not tampering; a job with a secret refuses them, and a job without one refuses signed
// files (it cannot check them). docs/fault_tolerance.md, "Files and the job secret".
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** The job secret files are signed with, or null when the job has none. */
export function jobSecret(env: NodeJS.ProcessEnv = process.env): string | null {
  const token = env['SHOAL_TOKEN'];
  return token !== undefined && token.trim() !== '' ? token : null;
}

/** HMAC-SHA256(secret, purpose | parts), or SHA-256(purpose | parts) without a secret. */
export function fileMac(secret: string | null, purpose: string, parts: Uint8Array[]): Buffer {
  const h = secret === null ? createHash('sha256') : createHmac('sha256', secret);
  h.update(`${purpose}|`);
  for (const p of parts) h.update(p);
  return h.digest();
}

/**
 * Why a file's stored MAC does not verify for this job, or null when it does. The text
 * completes "FILE ..." and says how to proceed.
 */
export function macProblem(secret: string | null, signed: boolean, stored: Uint8Array, purpose: string, parts: Uint8Array[]): string | null {
  if (signed && secret === null) {
    return 'is signed with a job secret and this job has none: run it with SHOAL_TOKEN set to the secret of the job that wrote the file';
  }
  if (!signed && secret !== null) {
    return 'is unsigned (written by a job without SHOAL_TOKEN) and this job has a secret, so it cannot tell it from a forged file: ' +
      'use it from a job without SHOAL_TOKEN, or write it again from a job with this secret';
  }
  const want = fileMac(secret, purpose, parts);
  if (stored.length === want.length && timingSafeEqual(want, stored)) return null;
  return signed
    ? 'was written by another job or with another secret, or was changed since (its HMAC-SHA256 does not verify with this job\'s SHOAL_TOKEN): ' +
        'run with the SHOAL_TOKEN of the job that wrote it (shoal run keeps a SHOAL_TOKEN set in its environment)'
    : 'is corrupt (its SHA-256 does not match)';
}
