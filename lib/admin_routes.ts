// The coordinator's admin endpoints, behind the job secret (the dashboard's viewer token gets 403):
//   POST /v1/admin/ps/add-server                 -> 200 "added parameter server K"
//   POST /v1/admin/ps/remove-server?server=N     -> 200 "draining parameter server N"
// `shoal ps add-server|remove-server` calls them; the coordinator hands the request to whoever
// can start and stop processes (the launcher, over IPC) and answers with its verdict (400 with
// the reason when it refuses, 501 when nobody can act, e.g. under mpirun). They take no body:
// uWS drops request bodies nobody reads, so a client cannot make the coordinator buffer one.
import type { HttpRequest, HttpResponse, TemplatedApp } from '@trufflesuite/uws-js-unofficial';

import { accessOf, deny, guarded, type RouteSecrets } from './coordinator_http.js';

export type AdminAction = 'add-server' | 'remove-server';
/** Performs an admin action; resolves with a message, rejects with the reason it was refused. */
export type AdminHandler = (action: AdminAction, server: number | null) => Promise<string>;

export function attachAdmin(app: TemplatedApp, secrets: RouteSecrets, handler: () => AdminHandler | null, log: (line: string) => void): void {
  const route = (action: AdminAction) => guarded(log, `POST ${action}`, (res: HttpResponse, req: HttpRequest): void => {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    const reply = (status: string, text: string): void => {
      if (!aborted) res.cork(() => res.writeStatus(status).writeHeader('content-type', 'text/plain').end(`${text}\n`));
    };
    const access = accessOf(req, secrets);
    if (access !== 'job') {
      deny(res, access);
      return;
    }
    const raw = req.getQuery('server') ?? '';
    const server = raw === '' ? null : Number(raw);
    if (action === 'remove-server' && (server === null || !Number.isInteger(server) || server < 0)) {
      reply('400 Bad Request', `remove-server needs ?server=N (a server index), got ${JSON.stringify(raw.slice(0, 64))}`);
      return;
    }
    const h = handler();
    if (!h) {
      reply('501 Not Implemented', `${action}: this coordinator cannot start or stop processes (only jobs started with \`shoal run\` can)`);
      return;
    }
    h(action, server).then(
      (message) => reply('200 OK', message),
      (err: unknown) => reply('400 Bad Request', err instanceof Error ? err.message : String(err)),
    ).catch((err: unknown) => log(`POST ${action}: could not answer: ${String(err)}`));
  });
  app.post('/v1/admin/ps/add-server', route('add-server')).post('/v1/admin/ps/remove-server', route('remove-server'));
}
