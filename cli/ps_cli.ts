// `shoal ps add-server|remove-server`: grow or shrink the parameter servers of a running job.
// The job is named by its dashboard URL (printed by `shoal run` / `shoal train`) or by
// --coordinator host:port. Admin requests need the job secret (SHOAL_TOKEN or SHOAL_TOKEN_FILE):
// the token in the dashboard URL is read-only. The coordinator hands the request to the
// launcher, which starts or drains the server (docs/parameter_server.md, "Elastic servers").
import { didYouMean, flagHelp, parseFlags, usageError, type FlagTable } from '../lib/cli_flags.js';
import { ShoalError } from '../lib/errors.js';
import { jobSecretFromEnv } from '../lib/job_secret.js';

/** `shoal ps`'s flags (lib/cli_flags.ts). */
export const PS_FLAGS = {
  job: { kind: 'string', value: 'URL', help: "the job's dashboard URL as printed at start (only its address is used)" },
  coordinator: { kind: 'string', value: 'H:P', help: "instead of --job: the coordinator's address" },
} as const satisfies FlagTable;

export const PS_USAGE = `usage: SHOAL_TOKEN=<job secret> shoal ps add-server --job URL
       SHOAL_TOKEN=<job secret> shoal ps remove-server N --job URL

${flagHelp(PS_FLAGS)}
  The job secret comes from SHOAL_TOKEN or SHOAL_TOKEN_FILE (the dashboard's token is read-only).

add-server starts one more parameter server; only the key ranges it takes over move to it.
remove-server drains server N: its keys move to the others, then it exits.`;

export interface PsArgs {
  action: 'add-server' | 'remove-server';
  server: number | null;
  base: string;
  token: string;
}

/** Parses the arguments after `shoal ps`. Pure. @throws {UsageError} naming the flag. */
export function parsePsArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): PsArgs | 'help' {
  const { values, help, rest } = parseFlags('shoal ps', PS_FLAGS, argv, { positionals: 2 });
  if (help) return 'help';
  const [action, index, ...extra] = rest;
  if (action !== 'add-server' && action !== 'remove-server') {
    const near = action === undefined ? undefined : didYouMean(action, ['add-server', 'remove-server']);
    throw usageError('shoal ps', `expected add-server or remove-server, got ${JSON.stringify(action ?? '')}${near ? `; did you mean ${near}?` : ''}\n${PS_USAGE}`);
  }
  if (extra.length > 0 || (index !== undefined && (action === 'add-server' || !/^\d+$/.test(index)))) throw usageError('shoal ps', `unexpected argument ${JSON.stringify(index)}\n${PS_USAGE}`);
  const server = index === undefined ? null : Number(index);
  const job = values.job ?? null;
  const coordinator = values.coordinator ?? null;
  if (action === 'remove-server' && server === null) throw usageError('shoal ps', 'remove-server needs the index of the server to drain, e.g. shoal ps remove-server 2 --job URL');
  if (job !== null) {
    let url: URL;
    try {
      url = new URL(job);
    } catch {
      throw usageError('shoal ps', `--job needs the dashboard URL (http://host:port/?token=...), got ${JSON.stringify(job)}`);
    }
    return { action, server, base: `${url.protocol}//${url.host}`, token: adminSecret(env) };
  }
  if (coordinator !== null) return { action, server, base: `http://${coordinator}`, token: adminSecret(env) };
  throw usageError('shoal ps', `which job? pass --job URL (the dashboard URL) or --coordinator host:port\n${PS_USAGE}`);
}

function adminSecret(env: NodeJS.ProcessEnv): string {
  const secret = jobSecretFromEnv(env);
  if (secret === undefined) throw usageError('shoal ps', 'admin requests need the job secret in SHOAL_TOKEN (or SHOAL_TOKEN_FILE); the token in the dashboard URL is read-only');
  return secret;
}

export async function psMain(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const args = parsePsArgs(argv, env);
  if (args === 'help') {
    process.stdout.write(`${PS_USAGE}\n`);
    return 0;
  }
  const path = args.action === 'add-server' ? '/v1/admin/ps/add-server' : `/v1/admin/ps/remove-server?server=${args.server}`;
  let res: Response;
  try {
    res = await fetch(`${args.base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${args.token}` }, signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new ShoalError('ERR_RENDEZVOUS', `cannot reach the job's coordinator at ${args.base}: ${(err as Error).message}`);
  }
  const text = (await res.text()).trim();
  if (!res.ok) {
    process.stderr.write(`shoal ps ${args.action}: ${text} (HTTP ${res.status})\n`);
    return res.status === 401 || res.status === 403 || res.status === 400 ? 2 : 1;
  }
  process.stdout.write(`${text}\n`);
  return 0;
}
