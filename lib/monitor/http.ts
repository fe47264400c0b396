// The coordinator's monitoring endpoints, all behind a token (query `token=` or
// `Authorization: Bearer <token>`, else 401). The read-only viewer token (the one in printed
// dashboard URLs) and the job secret both open them:
//   GET /            the dashboard page          GET /metrics     Prometheus text
//   GET /api/state   the dashboard's JSON        GET /api/trace   Chrome trace of recent collectives
//   GET /api/series  every metric's history (downsampled; series_store.ts)
//   WS  /v1/feed     the state, pushed every second (it reads nothing from the browser)
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket as UwsWebSocket, us_socket_context_t } from '@trufflesuite/uws-js-unofficial';

import { accessOf, deny, guarded, type RouteSecrets } from '../coordinator_http.js';
import { dashboardHtml } from './dashboard_html.js';
import type { JobView } from './job_view.js';
import { prometheusText } from './prometheus.js';

export interface MonitorHost {
  readonly secrets: RouteSecrets;
  view(): JobView | null;
}

interface FeedData {
  open: boolean;
}

/** Feed clients only listen; anything bigger than this from them is a protocol error. */
const FEED_MAX_MESSAGE_BYTES = 1024;

/** Registers the routes on the coordinator's uWS app; returns the feed's subscriber set. */
export function attachMonitor(app: TemplatedApp, host: () => MonitorHost | null, log: (line: string) => void): Set<UwsWebSocket<FeedData>> {
  const subscribers = new Set<UwsWebSocket<FeedData>>();
  const serve = (path: string, type: string, body: (view: JobView) => string, headers: Record<string, string> = {}) =>
    guarded(log, `GET ${path}`, (res: HttpResponse, req: HttpRequest) => {
      const h = host();
      const view = h?.view();
      if (!h || !view) {
        res.writeStatus('503 Service Unavailable').end('starting');
        return;
      }
      const access = accessOf(req, h.secrets);
      if (access === 'none') {
        deny(res, access);
        return;
      }
      res.writeStatus('200 OK').writeHeader('content-type', type).writeHeader('cache-control', 'no-store');
      for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
      res.end(body(view));
    });
  app
    .get('/', serve('/', 'text/html; charset=utf-8', () => dashboardHtml()))
    .get('/metrics', serve('/metrics', 'text/plain; version=0.0.4; charset=utf-8', (v) => prometheusText(v)))
    .get('/api/state', serve('/api/state', 'application/json', (v) => JSON.stringify(v.state())))
    .get('/api/series', serve('/api/series', 'application/json', (v) => JSON.stringify({ version: v.series.version, series: v.series.all() })))
    // A download (the dashboard's link), not a page: the browser saves it for chrome://tracing or Perfetto.
    .get('/api/trace', serve('/api/trace', 'application/json', (v) => JSON.stringify(v.chromeTrace()), { 'content-disposition': 'attachment; filename="shoal-trace.json"' }))
    .ws<FeedData>('/v1/feed', {
      idleTimeout: 120,
      maxPayloadLength: FEED_MAX_MESSAGE_BYTES,
      maxBackpressure: 16 * 1024 * 1024,
      upgrade: guarded(log, 'feed upgrade', (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
        const h = host();
        const access = h ? accessOf(req, h.secrets) : 'none';
        if (access === 'none') {
          deny(res, access);
          return;
        }
        res.upgrade<FeedData>({ open: true }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
      }),
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
