// `shoal k8s manifest`: a Kubernetes Indexed Job and a headless Service that run a Shoal job,
// printed as one JSON document (a `kind: List`; JSON is YAML, so `kubectl apply -f` takes it).
//
// The contract it writes (docs/launching.md, "Kubernetes Indexed Job"; checked by
// test/unit/k8s_manifest.test.ts): completionMode Indexed, so every pod gets
// JOB_COMPLETION_INDEX, which lib/env.ts reads as the rank; SHOAL_SIZE = completions =
// parallelism; the headless Service gives pod i the DNS name <job>-i.<service>, and
// SHOAL_COORDINATOR names pod 0's (pod 0 hosts the coordinator) or, with --coordinator
// standalone, a `shoal coordinator` pod behind a Service of its own (SHOAL_COORDINATOR_EXTERNAL=1:
// the coordinator then outlives every rank); the job secret comes from a Secret the user
// creates (never in the manifest); each pod advertises its pod IP for the data connections.
// No real cluster is used by the tests: this is checked against the contract only.
import { definedOnly, parseFlags, usageError, type FlagTable } from '../lib/cli_flags.js';

export const K8S_USAGE = `usage: shoal k8s manifest --name NAME --image IMAGE -np N [options] -- COMMAND...

Prints a Kubernetes Indexed Job + headless Service running COMMAND as N ranks (JSON, which
kubectl apply -f accepts as YAML). Create the job secret first:
  kubectl create secret generic NAME-token --from-literal=token=$(openssl rand -hex 32)

  --name NAME             Job and Service name (DNS label: a-z, 0-9, '-')
  --image IMAGE           container image holding node, shoal and your script
  -np N                   number of ranks (completions and parallelism)
  --namespace NS          metadata.namespace (default: kubectl's current one)
  --port P                coordinator port (default 29500)
  --token-secret S        Secret holding the job secret under key "token" (default NAME-token)
  --coordinator MODE      pod0 (default: rank 0 hosts it) or standalone (a \`shoal coordinator\`
                          pod and Service: the coordinator survives every rank)
  --shoal CMD             how the image runs the shoal CLI, for the standalone coordinator
                          (default "shoal"; split on spaces)
  --servers K             the first K pods are parameter servers (SHOAL_NUM_SERVERS; the
                          other N-K are the workers)
  --cpu C, --memory M     resource requests and limits of each rank's container`;

export interface K8sManifestArgs {
  name: string;
  image: string;
  np: number;
  /** Pods 0..servers-1 are parameter servers (SHOAL_NUM_SERVERS). */
  servers?: number;
  namespace?: string;
  port: number;
  tokenSecret: string;
  coordinator: 'pod0' | 'standalone';
  shoal: string[];
  cpu?: string;
  memory?: string;
  command: string[];
}

const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

function usage(message: string): Error {
  return usageError('shoal k8s manifest', message);
}

/** Parses the arguments after `shoal k8s manifest`. @throws {UsageError} naming the flag. */
const K8S_FLAGS = {
  name: { kind: 'string', value: 'NAME', help: 'job name' },
  image: { kind: 'string', value: 'IMAGE', help: 'container image' },
  np: { kind: 'int', min: 1, aliases: ['-np', '-n'], help: 'ranks' },
  servers: { kind: 'int', min: 1, value: 'K', help: 'parameter servers among the pods' },
  namespace: { kind: 'string', value: 'NS', help: 'namespace' },
  port: { kind: 'int', min: 1, max: 65535, value: 'P', help: 'coordinator port' },
  'token-secret': { kind: 'string', value: 'NAME', help: 'Secret holding the job token' },
  coordinator: { kind: 'choice', choices: ['pod0', 'standalone'], help: 'where the coordinator runs' },
  shoal: { kind: 'string', value: 'CMD', help: 'the shoal command in the image' },
  cpu: { kind: 'string', value: 'C', help: 'CPU request' },
  memory: { kind: 'string', value: 'M', help: 'memory request' },
} as const satisfies FlagTable;

export function parseK8sManifestArgs(argv: readonly string[]): K8sManifestArgs | 'help' {
  const out: Partial<K8sManifestArgs> & { port: number; coordinator: 'pod0' | 'standalone'; shoal: string[] } = { port: 29500, coordinator: 'pod0', shoal: ['shoal'] };
  const dash = argv.indexOf('--');
  const flags = dash < 0 ? argv : argv.slice(0, dash);
  out.command = dash < 0 ? [] : argv.slice(dash + 1);
  const { values: v, help } = parseFlags('shoal k8s manifest', K8S_FLAGS, flags);
  if (help) return 'help';
  Object.assign(out, definedOnly({ name: v.name, image: v.image, np: v.np, servers: v.servers, namespace: v.namespace, tokenSecret: v['token-secret'], cpu: v.cpu, memory: v.memory }));
  if (v.port !== undefined) out.port = v.port;
  if (v.coordinator !== undefined) out.coordinator = v.coordinator as 'pod0' | 'standalone';
  if (v.shoal !== undefined) out.shoal = v.shoal.trim().split(/\s+/);
  if (out.name === undefined) throw usage('--name NAME is required');
  // Pod names are <name>-<index> and the Service's DNS names <name>-<index>.<name>: both DNS labels.
  if (!DNS_LABEL.test(out.name) || out.name.length > 50) throw usage(`--name must be a DNS label of at most 50 characters (a-z, 0-9, '-'), got ${JSON.stringify(out.name)}`);
  if (out.namespace !== undefined && !DNS_LABEL.test(out.namespace)) throw usage(`--namespace must be a DNS label, got ${JSON.stringify(out.namespace)}`);
  if (out.image === undefined || out.image === '') throw usage('--image IMAGE is required');
  if (out.np === undefined) throw usage('-np N is required');
  if (out.servers !== undefined && out.servers >= out.np) throw usage(`--servers ${out.servers} leaves no workers among -np ${out.np} pods: give at most ${out.np - 1}`);
  if (out.port > 65535) throw usage(`--port must be at most 65535, got ${out.port}`);
  if (out.command.length === 0) throw usage('no command: end the options with -- and give the command each rank runs, e.g. -- node train.mjs');
  return { ...out, tokenSecret: out.tokenSecret ?? `${out.name}-token` } as K8sManifestArgs;
}

type Obj = Record<string, unknown>;

/** The Service, the Job and (standalone) the coordinator's Pod and Service, as a kubectl List. */
export function k8sManifest(a: K8sManifestArgs): Obj {
  const labels = { 'app.kubernetes.io/name': 'shoal', 'app.kubernetes.io/instance': a.name };
  const meta = (name: string, extra: Obj = {}): Obj => ({ name, ...(a.namespace ? { namespace: a.namespace } : {}), labels: { ...labels, ...extra } });
  const rankLabels = { ...labels, 'shoal.dev/role': 'rank' };
  const tokenEnv = { name: 'SHOAL_TOKEN', valueFrom: { secretKeyRef: { name: a.tokenSecret, key: 'token' } } };
  const standalone = a.coordinator === 'standalone';
  const coordinatorName = `${a.name}-coordinator`;
  const resources = a.cpu || a.memory ? { resources: { requests: { ...(a.cpu ? { cpu: a.cpu } : {}), ...(a.memory ? { memory: a.memory } : {}) }, limits: { ...(a.cpu ? { cpu: a.cpu } : {}), ...(a.memory ? { memory: a.memory } : {}) } } } : {};
  const items: Obj[] = [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(a.name),
      spec: {
        clusterIP: 'None',  // headless: one DNS name per pod, <job>-<index>.<service>
        publishNotReadyAddresses: true,  // ranks resolve each other before any readiness
        selector: rankLabels,
        ports: [{ name: 'coordinator', port: a.port, targetPort: a.port }],
      },
    },
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: meta(a.name),
      spec: {
        completionMode: 'Indexed',  // JOB_COMPLETION_INDEX = rank
        completions: a.np,
        parallelism: a.np,
        // A failed rank ends the job: Kubernetes would start the same index again, and a
        // process Shoal's launcher did not start cannot rejoin a running job (docs/launching.md).
        backoffLimit: 0,
        template: {
          metadata: { labels: rankLabels },
          spec: {
            subdomain: a.name,  // = the Service's name: gives pods their DNS names
            restartPolicy: 'Never',
            containers: [
              {
                name: 'rank',
                image: a.image,
                command: a.command,
                ports: [{ name: 'coordinator', containerPort: a.port }],
                env: [
                  { name: 'SHOAL_SIZE', value: String(a.np) },
                  ...(a.servers ? [{ name: 'SHOAL_NUM_SERVERS', value: String(a.servers) }] : []),
                  { name: 'SHOAL_COORDINATOR', value: standalone ? `${coordinatorName}:${a.port}` : `${a.name}-0.${a.name}:${a.port}` },
                  ...(standalone ? [{ name: 'SHOAL_COORDINATOR_EXTERNAL', value: '1' }] : []),
                  { name: 'SHOAL_BIND_HOST', value: '0.0.0.0' },
                  // Peers dial each rank's data port at its pod IP (the bare pod name does not resolve).
                  { name: 'SHOAL_ADVERTISE_HOST', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                  tokenEnv,
                ],
                ...resources,
              },
            ],
          },
        },
      },
    },
  ];
  if (standalone) {
    const coordLabels = { ...labels, 'shoal.dev/role': 'coordinator' };
    items.push(
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta(coordinatorName),
        spec: { selector: coordLabels, ports: [{ name: 'coordinator', port: a.port, targetPort: a.port }] },
      },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: meta(coordinatorName, { 'shoal.dev/role': 'coordinator' }),
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'coordinator',
              image: a.image,
              command: [...a.shoal, 'coordinator', '--port', String(a.port), '--host', '0.0.0.0'],
              ports: [{ name: 'coordinator', containerPort: a.port }],
              env: [tokenEnv],
            },
          ],
        },
      },
    );
  }
  return { apiVersion: 'v1', kind: 'List', items };
}

/** `shoal k8s <subcommand>` main. */
export async function k8sMain(argv: string[]): Promise<number> {
  if (argv[0] !== 'manifest') {
    if (argv[0] === undefined || argv[0] === '-h' || argv[0] === '--help') {
      process.stdout.write(`${K8S_USAGE}\n`);
      return argv[0] === undefined ? 2 : 0;
    }
    throw usageError('shoal k8s', `unknown subcommand ${JSON.stringify(argv[0])} (expected: manifest)`);
  }
  const args = parseK8sManifestArgs(argv.slice(1));
  if (args === 'help') {
    process.stdout.write(`${K8S_USAGE}\n`);
    return 0;
  }
  process.stdout.write(`${JSON.stringify(k8sManifest(args), null, 2)}\n`);
  return 0;
}
