// The job secret: the one value every process of a job shares and strangers must not have. It
// comes from SHOAL_TOKEN, or from the file named by SHOAL_TOKEN_FILE (a Kubernetes Secret
// volume, a 0600 file on a shared home), or `shoal run` makes a random one. There is no default
// derived from the job id or the coordinator address: anyone who can see those could compute it.
// Ranks prove it to the coordinator and to each other with HMAC (hmac_auth.ts, native
// handshake); the dashboard gets a read-only token derived from it (hmac_auth.viewerToken).

import { readFileSync } from 'node:fs';

import { ConfigError } from './errors.js';

/** What users are told to run when a job needs a secret. */
export const MAKE_SECRET_HINT = 'export SHOAL_TOKEN=$(openssl rand -hex 16)';

type Env = NodeJS.ProcessEnv;

/**
 * The job secret from SHOAL_TOKEN, else from the file in SHOAL_TOKEN_FILE (one trailing newline
 * or whitespace is dropped); undefined when neither is set.
 * @throws {ConfigError} ERR_CONFIG when the value is empty, unreadable or not one line.
 */
export function jobSecretFromEnv(env: Env): string | undefined {
  const direct = env['SHOAL_TOKEN'];
  if (direct !== undefined) {
    if (direct.trim() === '') throw secretError(`SHOAL_TOKEN is set but empty: unset it or give every rank the same secret, e.g. ${MAKE_SECRET_HINT}`);
    return checkedSecret(direct, 'SHOAL_TOKEN');
  }
  const file = env['SHOAL_TOKEN_FILE'];
  if (file === undefined || file === '') return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw secretError(`SHOAL_TOKEN_FILE=${file}: cannot read the job secret: ${(err as Error).message}`);
  }
  const secret = text.trimEnd();
  if (secret === '') throw secretError(`SHOAL_TOKEN_FILE=${file} is empty: write the job secret into it, e.g. openssl rand -hex 16 > ${file}`);
  return checkedSecret(secret, `SHOAL_TOKEN_FILE=${file}`);
}

/**
 * The secret travels to remote ranks as one line on the remote shell's stdin, so it must be one
 * line. @throws {ConfigError} naming `source` otherwise.
 */
export function checkedSecret(secret: string, source: string): string {
  if (secret === '') throw secretError(`${source}: the job secret is empty`);
  if (/[\r\n\0]/.test(secret)) throw secretError(`${source}: the job secret must be a single line without NUL characters`);
  return secret;
}

/** The refusal for a multi-process job started without a secret (under mpirun, srun, Kubernetes, or by hand). */
export function missingSecretError(what: string): ConfigError {
  return secretError(
    `${what}, but no job secret is set: every process needs the same SHOAL_TOKEN (or SHOAL_TOKEN_FILE naming a file that holds it). ` +
      `For example: ${MAKE_SECRET_HINT} and pass it on (mpirun -x SHOAL_TOKEN, srun passes the environment, a Kubernetes Secret for pods). ` +
      '`shoal run` makes one by itself.',
  );
}

function secretError(message: string): ConfigError {
  return new ConfigError('ERR_CONFIG', message);
}
