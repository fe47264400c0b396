// Where the launcher puts parameter servers and replacement workers on a hostfile's hosts
// (lib/hostfile.ts): servers round-robin; a replacement on another host with a free slot.
import test from 'ava';
import { parseHostfile, replacementHost, serverHostIndex } from '../../lib/hostfile.js';

const hosts = parseHostfile('a slots=2\nb slots=2\nc slots=1\n', 'hosts');

test('servers go round-robin over the hosts', (t) => {
  t.deepEqual([0, 1, 2, 3, 4].map((i) => serverHostIndex(i, hosts.length)), [0, 1, 2, 0, 1]);
});

test('a replacement goes to the first other host with a free slot', (t) => {
  // a: 2 live, b: 1 live (its other worker died), c: 0 live.
  t.is(replacementHost(hosts, ['a', 'a', 'b'], 'b'), 'c');
  // c full too: nowhere else has room, so the worker stays on its host.
  t.is(replacementHost(hosts, ['a', 'a', 'b', 'c'], 'b'), 'b');
  // b lost both workers: a is full, c has one slot.
  t.is(replacementHost(hosts, ['a', 'a'], 'b'), 'c');
  // a has room after its own loss, but a replacement never goes back to the host it left when another has room.
  t.is(replacementHost(hosts, ['a', 'b', 'b', 'c'], 'a'), 'a');
  t.is(replacementHost(hosts, ['a', 'b', 'b'], 'a'), 'c');
});
