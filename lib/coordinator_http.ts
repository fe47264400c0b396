// What every HTTP route of the coordinator (dashboard, /metrics, feed, admin) shares: who is
// asking (the job secret, the read-only viewer token, or nobody), and a wrapper that turns an
// exception in a handler into a 500 answer. uWS.js has no error boundary of its own: an
// exception thrown in a route handler is an uncaught exception and ends the process hosting the
// coordinator (the launcher's coordinator process, or rank 0 under mpirun/srun).
import type { HttpRequest, HttpResponse } from '@trufflesuite/uws-js-unofficial';

import { sameSecret, viewerToken } from './hmac_auth.js';

/** 'job': the job secret (everything); 'viewer': the dashboard token (read-only); 'none'. */
export type Access = 'job' | 'viewer' | 'none';

/** Tokens longer than this are not compared at all (a secret is 64 hex digits by default). */
const MAX_TOKEN_LENGTH = 1024;

export interface RouteSecrets {
  readonly job: string;
  readonly viewer: string;
}

export function routeSecrets(jobSecret: string): RouteSecrets {
  return { job: jobSecret, viewer: viewerToken(jobSecret) };
}

/**
 * The token a request carries: `Authorization: Bearer <token>`, else `?token=`. uWS already
 * percent-decodes query values; decoding a second time threw a URIError on `?token=%25`.
 */
export function requestToken(req: HttpRequest): string {
  const bearer = /^bearer\s+(\S+)\s*$/i.exec(req.getHeader('authorization'));
  if (bearer) return bearer[1] as string;
  return req.getQuery('token') ?? '';
}

export function accessOf(req: HttpRequest, secrets: RouteSecrets): Access {
  const given = requestToken(req);
  if (given === '' || given.length > MAX_TOKEN_LENGTH) return 'none';
  if (sameSecret(given, secrets.job)) return 'job';
  if (sameSecret(given, secrets.viewer)) return 'viewer';
  return 'none';
}

/** Runs `handler`; if it throws, logs the error and answers 500 (if the response is still open). */
export function guarded<A extends unknown[]>(log: (line: string) => void, name: string, handler: (res: HttpResponse, ...rest: A) => void): (res: HttpResponse, ...rest: A) => void {
  return (res, ...rest) => {
    try {
      handler(res, ...rest);
    } catch (err) {
      log(`${name}: ${(err as Error)?.message ?? String(err)} (answered 500)`);
      try {
        res.cork(() => res.writeStatus('500 Internal Server Error').writeHeader('content-type', 'text/plain').end('500: internal error\n'));
      } catch {
        // Already answered or aborted by the client: nothing left to tell it.
      }
    }
  };
}

export function deny(res: HttpResponse, access: Access): void {
  if (access === 'viewer') {
    res.writeStatus('403 Forbidden').writeHeader('content-type', 'text/plain').end('403: the dashboard token is read-only; this needs the job secret (SHOAL_TOKEN)\n');
    return;
  }
  res.writeStatus('401 Unauthorized').writeHeader('content-type', 'text/plain').end('401: this job needs its token (?token=... or Authorization: Bearer ...)\n');
}

/** Calls `log` at most once per `everyMs`, saying how many lines it held back meanwhile. */
export function rateLimited(log: (line: string) => void, everyMs: number): (line: string) => void {
  let last = -Infinity;
  let held = 0;
  return (line) => {
    const now = Date.now();
    if (now - last < everyMs) {
      held++;
      return;
    }
    last = now;
    log(held > 0 ? `${line} (and ${held} similar line(s) held back)` : line);
    held = 0;
  };
}
