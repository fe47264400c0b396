// `shoal k8s manifest` output against the Indexed Job + headless Service contract. No real
// cluster is involved: each pod's environment is rebuilt from the manifest as Kubernetes would
// (JOB_COMPLETION_INDEX added, secretKeyRef and fieldRef resolved) and given to detectEnv, the
// code every rank runs, so what the manifest promises is what a rank would see.
import test from 'ava';
import { detectEnv } from '../../lib/env.js';
import { shoal } from '../helpers/shoal_cli.js';

type Obj = Record<string, any>;

async function manifest(args: string[]): Promise<Obj[]> {
  const r = await shoal(['k8s', 'manifest', ...args], 30_000);
  if (r.code !== 0) throw new Error(`shoal k8s manifest exited ${r.code}: ${r.stderr}`);
  const list = JSON.parse(r.stdout) as Obj;
  if (list['kind'] !== 'List') throw new Error('not a List');
  return list['items'] as Obj[];
}

/** A pod's environment as the kubelet would set it. */
function podEnv(container: Obj, index: number, secret: string, podIP: string): Record<string, string> {
  const env: Record<string, string> = { JOB_COMPLETION_INDEX: String(index) };
  for (const e of container['env'] as Obj[]) {
    if (e['value'] !== undefined) env[e['name']] = e['value'];
    else if (e['valueFrom']?.secretKeyRef) env[e['name']] = secret;
    else if (e['valueFrom']?.fieldRef?.fieldPath === 'status.podIP') env[e['name']] = podIP;
    else throw new Error(`unresolvable env ${JSON.stringify(e)}`);
  }
  return env;
}

test('rank pods: Indexed Job, JOB_COMPLETION_INDEX is the rank, pod 0 hosts the coordinator at its Service DNS name, token from a Secret', async (t) => {
  const items = await manifest(['--name', 'train', '--image', 'reg/shoal:1', '-np', '4', '--namespace', 'ml', '--port', '29555', '--', 'node', 'train.mjs', '--epochs', '3']);
  const svc = items.find((i) => i['kind'] === 'Service')!;
  const job = items.find((i) => i['kind'] === 'Job')!;
  t.is(items.length, 2);
  t.is(job['apiVersion'], 'batch/v1');
  t.is(job['metadata'].namespace, 'ml');
  t.is(job['spec'].completionMode, 'Indexed');
  t.is(job['spec'].completions, 4);
  t.is(job['spec'].parallelism, 4);
  const pod = job['spec'].template;
  // Headless Service whose name is the pods' subdomain and whose selector matches them.
  t.is(svc['spec'].clusterIP, 'None');
  t.is(pod.spec.subdomain, svc['metadata'].name);
  for (const [k, v] of Object.entries(svc['spec'].selector as Record<string, string>)) t.is(pod.metadata.labels[k], v, `selector ${k}`);
  t.deepEqual(svc['spec'].ports.map((p: Obj) => p['port']), [29555]);
  const container = pod.spec.containers[0];
  t.deepEqual(container.command, ['node', 'train.mjs', '--epochs', '3']);
  t.deepEqual(container.env.find((e: Obj) => e['name'] === 'SHOAL_TOKEN').valueFrom, { secretKeyRef: { name: 'train-token', key: 'token' } });
  t.false(JSON.stringify(items).includes('replace-with'), 'no secret value in the manifest');
  for (const index of [0, 3]) {
    const job = detectEnv(podEnv(container, index, 'k8s-secret', `10.1.0.${index + 7}`));
    t.is(job.launcher, 'kubernetes');
    t.is(job.rank, index);
    t.is(job.size, 4);
    t.is(job.token, 'k8s-secret');
    // <pod 0>.<service>: the DNS name the headless Service gives pod 0 (namespace-relative).
    t.deepEqual(job.coordinator, { host: 'train-0.train', port: 29555 });
    t.is(job.bindHost, '0.0.0.0');
  }
  t.is(podEnv(container, 2, 's', '10.1.0.9')['SHOAL_ADVERTISE_HOST'], '10.1.0.9');
});

test('--coordinator standalone: a shoal coordinator pod behind its own Service; ranks never host it', async (t) => {
  const items = await manifest(['--name', 'big', '--image', 'img', '-np', '2', '--coordinator', 'standalone', '--shoal', 'npx shoal', '--token-secret', 'tok', '--', 'node', 'x.mjs']);
  const coordSvc = items.find((i) => i['kind'] === 'Service' && i['metadata'].name === 'big-coordinator')!;
  const coordPod = items.find((i) => i['kind'] === 'Pod')!;
  t.truthy(coordSvc);
  for (const [k, v] of Object.entries(coordSvc['spec'].selector as Record<string, string>)) t.is(coordPod['metadata'].labels[k], v);
  const c = coordPod['spec'].containers[0];
  t.deepEqual(c.command, ['npx', 'shoal', 'coordinator', '--port', '29500', '--host', '0.0.0.0']);
  t.deepEqual(c.env[0].valueFrom, { secretKeyRef: { name: 'tok', key: 'token' } });
  const job = items.find((i) => i['kind'] === 'Job')!;
  const env = podEnv(job['spec'].template.spec.containers[0], 0, 's', '10.0.0.1');
  const rank0 = detectEnv(env);
  t.deepEqual(rank0.coordinator, { host: 'big-coordinator', port: 29500 });
  t.false(rank0.hostsCoordinator, 'rank 0 must not start a coordinator of its own');
});

test('--servers K: pods 0..K-1 are parameter servers, the others workers 0..N-K-1 (SHOAL_NUM_SERVERS)', async (t) => {
  const items = await manifest(['--name', 'ps', '--image', 'img', '-np', '5', '--servers', '2', '--', 'node', 'x.mjs']);
  const container = items.find((i) => i['kind'] === 'Job')!['spec'].template.spec.containers[0];
  const roles = [0, 1, 2, 3, 4].map((i) => detectEnv(podEnv(container, i, 's', `10.0.0.${i + 1}`))).map((j) => [j.role, j.rank, j.size, j.numServers, j.hostsCoordinator]);
  // (hostsCoordinator: false because this machine is not pod ps-0; in pod 0 its own name matches.)
  t.deepEqual(roles, [['server', 0, 3, 2, false], ['server', 1, 3, 2, false], ['worker', 0, 3, 2, false], ['worker', 1, 3, 2, false], ['worker', 2, 3, 2, false]]);
  const tooMany = await shoal(['k8s', 'manifest', '--name', 'a', '--image', 'i', '-np', '2', '--servers', '2', '--', 'node'], 30_000);
  t.is(tooMany.code, 2);
  t.regex(tooMany.stderr, /--servers 2 leaves no workers among -np 2 pods/);
});

test('bad flags exit 2 naming the flag', async (t) => {
  const noCmd = await shoal(['k8s', 'manifest', '--name', 'a', '--image', 'i', '-np', '2'], 30_000);
  t.is(noCmd.code, 2);
  t.regex(noCmd.stderr, /no command: end the options with --/);
  const badName = await shoal(['k8s', 'manifest', '--name', 'Bad_Name', '--image', 'i', '-np', '2', '--', 'node'], 30_000);
  t.is(badName.code, 2);
  t.regex(badName.stderr, /--name must be a DNS label/);
});
