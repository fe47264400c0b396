// `shoal ps` argument parsing: the job's address comes from the dashboard URL or from
// --coordinator, the job secret from SHOAL_TOKEN (never the URL's read-only token); bad input names the flag.
import test from 'ava';

import { parsePsArgs } from '../../cli/ps_cli.js';

test('add-server with the dashboard URL', (t) => {
  t.deepEqual(parsePsArgs(['add-server', '--job', 'http://127.0.0.1:4000/?token=viewer'], { SHOAL_TOKEN: 'secret' }), { action: 'add-server', server: null, base: 'http://127.0.0.1:4000', token: 'secret' });
});

test('remove-server N with --coordinator and SHOAL_TOKEN', (t) => {
  t.deepEqual(parsePsArgs(['remove-server', '2', '--coordinator', 'h:9'], { SHOAL_TOKEN: 'tok' }), { action: 'remove-server', server: 2, base: 'http://h:9', token: 'tok' });
});

test('usage errors name what is missing', (t) => {
  t.throws(() => parsePsArgs(['grow'], {}), { message: /expected add-server or remove-server, got "grow"/ });
  t.throws(() => parsePsArgs(['remove-server', '--job', 'http://h:1/?token=x'], {}), { message: /remove-server needs the index/ });
  t.throws(() => parsePsArgs(['add-server', '--job', 'not a url'], {}), { message: /--job needs the dashboard URL/ });
  t.throws(() => parsePsArgs(['add-server', '--job', 'http://h:1/?token=viewer'], {}), { message: /need the job secret in SHOAL_TOKEN .*read-only/ });
  t.throws(() => parsePsArgs(['add-server', '--coordinator', 'h:1'], {}), { message: /need the job secret in SHOAL_TOKEN/ });
  t.is(parsePsArgs(['--help']), 'help');
});
