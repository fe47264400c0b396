// lib/ps/native_json.ts: the server process's timers read native JSON through it, so bad text
// must give the fallback and one log line, never a throw.
import test from 'ava';

import { nativeJsonReader } from '../../lib/ps/native_json.js';

test('native JSON: good text parses; bad text yields the fallback and logs once per kind', (t) => {
  const lines: string[] = [];
  const read = nativeJsonReader((line) => lines.push(line));
  t.deepEqual(read('stats', '{"tables":[{"name":"a\\"b"}]}', null), { tables: [{ name: 'a"b' }] });
  // What string concatenation of the table name a"b used to produce.
  const broken = '{"tables":[{"name":"a"b"}]}';
  t.is(read('stats', broken, null), null);
  t.deepEqual(read('stats', broken, { fallback: true }), { fallback: true });
  t.deepEqual(read('drain status', '', { state: 'failed' }), { state: 'failed' });
  t.is(lines.length, 2, lines.join('\n'));
  t.regex(lines[0]!, /^unreadable stats from the native server \(.+\); continuing$/);
  t.regex(lines[1]!, /^unreadable drain status/);
});
