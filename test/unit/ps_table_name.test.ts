// The table-name rule of lib/ps/table_options.ts (the native side has the same rule and is
// exercised through the binding in test/native/ps_hostile.test.ts).
import test from 'ava';

import { MAX_TABLE_NAME_LENGTH, validateTableName } from '../../lib/ps/table_options.js';

test('table names: the documented charset and length are accepted', (t) => {
  for (const name of ['w', 'ftrl.w', 'emb:user-v2', '_x', '0', 'A'.repeat(MAX_TABLE_NAME_LENGTH), 'a.b:c-d_E9']) {
    t.notThrows(() => validateTableName(name), name);
  }
});

test('table names: anything else is a TypeError naming the table', (t) => {
  const bad: unknown[] = ['', 'a"b', 'a b', 'a/b', '../x', '.x', ':x', '-x', 'a\\b', 'a\nb', 'ünï', 'a\u0000', 'A'.repeat(MAX_TABLE_NAME_LENGTH + 1), 7, null];
  for (const name of bad) {
    const e = t.throws(() => validateTableName(name), { instanceOf: TypeError }, String(name));
    t.is((e as Error & { code?: string }).code, 'ERR_INVALID_ARGUMENT');
    t.regex(e!.message, /ps\.table: expected a table name of 1\.\.128 characters/);
    if (typeof name === 'string' && name.length > 0 && name.length < 30) t.true(e!.message.includes(JSON.stringify(name)), e!.message);
  }
});
