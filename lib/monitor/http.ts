// The coordinator's monitoring endpoints, all behind the job token (query `token=` or
// `Authorization: Bearer <token>`, else 401):
//   GET /            the dashboard page          GET /metrics     Prometheus text
//   GET /api/state   the dashboard's JSON        GET /api/trace   Chrome trace of recent collectives
//   WS  /v1/feed     the state, pushed every second
import { timingSafeEqual } from 'node:crypto';

import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket as UwsWebSocket } from '@trufflesuite/uws-js-unofficial';

import { DASHBOARD_HTML } from './dashboard_html.js';
import type { JobView } from './job_view.js';
import { prometheusText } from './prometheus.js';

export interface MonitorHost {
  readonly token: string;
  view(): JobView | null;
}

interface FeedData {
  open: boolean;
}

export function authorized(token: string, req: HttpRequest): boolean {
  const fromQuery = req.getQuery('token') ?? '';
  const header = req.getHeader('authorization');
  const given = fromQuery !== '' ? decodeURIComponent(fromQuery) : header.startsWith('Bearer ') ? header.slice(7) : '';
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function deny(res: HttpResponse): void {
  res.writeStatus('401 Unauthorized').writeHeader('content-type', 'text/plain').end('401: this job needs its token (?token=... or Authorization: Bearer ...)\n');
}

/** Registers the routes on the coordinator's uWS app; returns the feed's subscriber set. */
export function attachMonitor(app: TemplatedApp, host: () => MonitorHost | null): Set<UwsWebSocket<FeedData>> {
  const subscribers = new Set<UwsWebSocket<FeedData>>();
  const serve = (type: string, body: (view: JobView) => string) => (res: HttpResponse, req: HttpRequest) => {
    const h = host();
    const view = h?.view();
    if (!h || !view) {
      res.writeStatus('503 Service Unavailable').end('starting');
      return;
    }
    if (!authorized(h.token, req)) {
      deny(res);
      return;
    }
    res.writeStatus('200 OK').writeHeader('content-type', type).writeHeader('cache-control', 'no-store').end(body(view));
  };
  app
    .get('/', serve('text/html; charset=utf-8', () => DASHBOARD_HTML))
    .get('/metrics', serve('text/plain; version=0.0.4; charset=utf-8', (v) => prometheusText(v)))
    .get('/api/state', serve('application/json', (v) => JSON.stringify(v.state())))
    .get('/api/trace', serve('application/json', (v) => JSON.stringify(v.chromeTrace())))
    .ws<FeedData>('/v1/feed', {
      idleTimeout: 120,
      maxBackpressure: 16 * 1024 * 1024,
      upgrade: (res, req, context) => {
        const h = host();
        if (!h || !authorized(h.token, req)) {
          deny(res);
          return;
        }
        res.upgrade<FeedData>({ open: true }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
      },
      open: (ws) => {
        subscribers.add(ws);
        const view = host()?.view();
        if (view) ws.send(JSON.stringify(view.state()));
      },
      close: (ws) => {
        ws.getUserData().open = false;
        subscribers.delete(ws);
      },
    });
  return subscribers;
}

/** Pushes the current state to every dashboard that is connected. */
export function publish(subscribers: Set<UwsWebSocket<FeedData>>, view: JobView): void {
  if (subscribers.size === 0) return;
  const text = JSON.stringify(view.state());
  for (const ws of subscribers) if (ws.getUserData().open) ws.send(text);
}
