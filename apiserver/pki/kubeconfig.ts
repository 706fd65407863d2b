/** Writes a kubeconfig (CA embedded, bearer token) that kubectl and qxctl read unchanged. */
import { renameSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

export interface KubeconfigOptions {
  server: string;
  caCertPem: string;
  token: string;
  user: string;
  clusterName?: string;
  namespace?: string;
}

export function renderKubeconfig(options: KubeconfigOptions): string {
  const cluster = options.clusterName ?? 'quantix';
  const context = `${options.user}@${cluster}`;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster, cluster: { server: options.server, 'certificate-authority-data': Buffer.from(options.caCertPem).toString('base64') } }],
    users: [{ name: options.user, user: { token: options.token } }],
    contexts: [{ name: context, context: { cluster, user: options.user, namespace: options.namespace ?? 'default' } }],
    'current-context': context,
    preferences: {},
  });
}

/** Written aside and renamed: replicas sharing a data dir rewrite it at each start, and a reader never sees half a file. */
export function writeKubeconfig(path: string, options: KubeconfigOptions): void {
  const partial = `${path}.${process.pid}.tmp`;
  writeFileSync(partial, renderKubeconfig(options), { mode: 0o600 });
  renameSync(partial, path);
}
