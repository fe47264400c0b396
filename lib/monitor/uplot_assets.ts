// uPlot's minified JS and CSS (the `uplot` dependency), read once from node_modules and inlined
// into the dashboard and the reports, so every page is one file that works offline (no CDN).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

let cached: { js: string; css: string } | null = null;

export function uplotAssets(): { js: string; css: string } {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const read = (file: string) => readFileSync(require.resolve(`uplot/dist/${file}`), 'utf8');
  // Inside <script>/<style>, a literal "</" could end the element early.
  cached = { js: read('uPlot.iife.min.js').replace(/<\//g, '<\\/'), css: read('uPlot.min.css').replace(/<\//g, '<\\/') };
  return cached;
}
