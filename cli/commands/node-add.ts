/**
 * `qxctl node add https://HOST:PORT --token T [--fingerprint sha256:...]`: the "Add host" flow
 * (issue 16, point 3). Creates a HostJoin; the hostjoin controller runs its phases against
 * the host's registration API while this command watches and prints each as it runs. Exits 0
 * once the host joined; on failure prints the host-join code, what happened and the guidance,
 * and exits with the code's own exit code (20–33, lib/host-join/codes.ts).
 *
 * Without --fingerprint the controller only pings (nothing secret is sent) and fails with
 * TLS_ERROR naming the certificate the host presented: the admin compares it with what
 * `quantix-agent token` prints on the host and reruns with --fingerprint, as Proxmox asks.
 */
import type { HostJoin } from '../../api-types/generated/types.js';
import { resourcePath } from '../../api-types/group-version.js';
import { hostJoinDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { isHostJoinErrorCode } from '../../lib/host-join/codes.js';
import { normalizeFingerprint } from '../../lib/host-join/protocol.js';
import { formatDuration } from '../args.js';
import { flagString, TIMEOUT_FLAG, type Command } from '../command.js';
import { CliError, ExitCode, HostJoinFailedError, TimeoutError, UsageError } from '../errors.js';
import { listWatch } from '../watch.js';

const HJ = hostJoinDefinition as unknown as ResourceDefinition;
const PHASES = ['Ping', 'ValidateToken', 'Discover', 'Complete'] as const;

/** `https://10.0.0.5:9443` → `add-10-0-0-5-9443-` (the server appends a random suffix). */
export function hostJoinGenerateName(url: URL): string {
  const host = `${url.hostname}-${url.port || '443'}`
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return `add-${host}-`;
}

/**
 * The lines to print for what changed in a HostJoin's conditions since `printed` (the
 * `type=status` pairs already printed; updated in place): one when a phase starts, one when
 * it passes or fails.
 */
export function phaseLines(hj: HostJoin, printed: Set<string>): string[] {
  const lines: string[] = [];
  for (const phase of PHASES) {
    const c = hj.status?.conditions?.find((x) => x.type === phase);
    if (!c) continue;
    const key = `${phase}=${c.status}`;
    if (printed.has(key)) continue;
    printed.add(key);
    const label = phase.padEnd(13);
    if (c.status === 'Unknown') lines.push(`${label} … ${c.message ?? 'running'}`);
    else if (c.status === 'True') lines.push(`${label} ✓ ${c.message ?? 'passed'}`);
    else lines.push(`${label} ✗ ${c.reason ?? 'failed'}`);
  }
  return lines;
}

export const nodeAddCommand: Command = {
  name: 'node add',
  summary: 'Add a host: the control plane checks it in phases and has it join',
  usage: 'node add https://HOST:PORT --token TOKEN [--fingerprint sha256:...] [--timeout DURATION] [flags]',
  description: `
Adds a host whose quantix-agent runs without credentials (it then serves the registration
API, port 9443 by default). On the host, \`quantix-agent token\` prints the host token (valid
1 h) and the fingerprint of the registration certificate.

The control plane runs the phases Ping → ValidateToken → Discover → Complete (a HostJoin
object: \`qxctl get hostjoins\`), printed here as they run. Complete hands the host a
single-use bootstrap token and the cluster CA hash; the host pins the CA and joins.

Without --fingerprint only Ping runs: the command prints the fingerprint the host presented
and fails with TLS_ERROR. Compare it with the one \`quantix-agent token\` printed on the host
and run the command again with --fingerprint.

Exit codes: 0 joined; 20–33 the host-join error code (see docs/adding-a-host.md), with its
guidance; 7 the flow did not end within --timeout; others as for every command.`,
  examples: [
    'qxctl node add https://10.0.0.5:9443 --token k3m9x-2ab7q-… --fingerprint sha256:4F:1A:…',
    'qxctl node add https://hv2.example.com:9443 --token k3m9x-2ab7q-…   # prints the fingerprint to confirm',
  ],
  flags: [
    { name: 'token', type: 'string', valueName: 'TOKEN', description: 'The host token (`quantix-agent token` on the host).' },
    {
      name: 'fingerprint',
      type: 'string',
      valueName: 'SHA256',
      description: 'SHA-256 fingerprint of the host’s registration certificate, as you confirmed it.',
    },
    TIMEOUT_FLAG(5 * 60_000, 'for the flow to end'),
  ],
  args: { min: 1, max: 1 },
  async run(ctx) {
    let url: URL;
    try {
      url = new URL(ctx.args[0]!);
    } catch {
      throw new UsageError(`not a URL: ${JSON.stringify(ctx.args[0])} (expected https://HOST:PORT)`, 'qxctl node add');
    }
    if (url.protocol !== 'https:' || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
      throw new UsageError(`expected https://HOST:PORT of the host's registration API, got ${ctx.args[0]}`, 'qxctl node add');
    }
    const token = flagString(ctx, 'token');
    if (!token) throw new HostJoinFailedError('TOKEN_MISSING', '--token is required: the host token `quantix-agent token` prints on the host');
    const fingerprint = flagString(ctx, 'fingerprint');
    if (fingerprint !== undefined && !normalizeFingerprint(fingerprint)) {
      throw new UsageError(`--fingerprint: expected sha256:AB:CD:… (64 hex digits), got ${JSON.stringify(fingerprint)}`, 'qxctl node add');
    }
    const timeoutMs = ctx.flags.timeout as number;
    const client = await ctx.client();
    const origin = `https://${url.host}`;
    const { body: created } = await client.request<HostJoin>('POST', resourcePath(HJ), {
      body: {
        apiVersion: 'quantix.io/v1alpha1',
        kind: 'HostJoin',
        metadata: { generateName: hostJoinGenerateName(url) },
        spec: { url: origin, hostToken: token, ...(fingerprint ? { fingerprint } : {}) },
      },
    });
    const name = created.metadata.name!;
    ctx.io.out(`hostjoin/${name} created: adding ${origin}`);

    const printed = new Set<string>();
    const controller = new AbortController();
    let last: HostJoin = created;
    const observe = (hj: HostJoin | undefined): boolean => {
      if (!hj) throw new CliError(`hostjoin/${name} was deleted while the flow ran`, ExitCode.NotFound);
      last = hj;
      for (const line of phaseLines(hj, printed)) ctx.io.out(line);
      return hj.status?.phase === 'Succeeded' || hj.status?.phase === 'Failed';
    };
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      await listWatch<{ items: HostJoin[] }, HostJoin>(
        client,
        resourcePath(HJ),
        { fieldSelector: `metadata.name=${name}` },
        {
          onList: (list) => observe(list.items.find((o) => o.metadata.name === name)),
          onEvent: (ev) => observe(ev.type === 'DELETED' ? undefined : ev.object),
        },
        { signal: controller.signal },
      );
    } finally {
      clearTimeout(timer);
    }
    const status = last.status ?? {};
    if (status.phase === 'Succeeded') {
      ctx.io.out(`${origin} joined as node/${status.nodeName}`);
      return ExitCode.OK;
    }
    if (status.phase === 'Failed') {
      const code = status.errorCode;
      if (!isHostJoinErrorCode(code)) throw new CliError(`adding ${origin} failed: ${status.message ?? 'no reason given'}`);
      if (code === 'TLS_ERROR' && !fingerprint && status.presentedFingerprint) {
        // Proxmox's way: show what the host presented; the admin confirms it out of band.
        ctx.io.out(`The host presented the certificate fingerprint ${status.presentedFingerprint}.`);
        ctx.io.out(`If it matches what \`quantix-agent token\` prints on the host, run again with --fingerprint ${status.presentedFingerprint}`);
      }
      throw new HostJoinFailedError(code, status.message ?? code);
    }
    throw new TimeoutError(
      `timed out after ${formatDuration(timeoutMs)}: hostjoin/${name} is still at phase ${status.phase ?? '(not started: is quantix-controller-manager running?)'}; follow it with \`qxctl get hostjoin ${name} -w\``,
    );
  },
};
