/** `qxctl version`: client version, and the server's /version unless --client. */
import { flagBool, flagString, OUTPUT_FLAG, type Command } from '../command.js';
import { toJson, toYaml } from '../output.js';
import { clientVersion, gitCommit } from '../version-info.js';

interface ServerVersion {
  major?: string;
  minor?: string;
  gitVersion?: string;
  gitCommit?: string;
  platform?: string;
  goVersion?: string;
}

export const versionCommand: Command = {
  name: 'version',
  summary: 'Print the client and server versions.',
  usage: 'version [--client] [-o json|yaml]',
  examples: ['qxctl version', 'qxctl version --client'],
  flags: [{ name: 'client', type: 'boolean', description: 'Client version only (no server needed).' }, OUTPUT_FLAG(['json', 'yaml'])],
  args: { max: 0 },
  async run(ctx) {
    const client = {
      gitVersion: `v${clientVersion()}`,
      ...(gitCommit() ? { gitCommit: gitCommit() } : {}),
      nodeVersion: process.version,
      platform: `${process.platform}/${process.arch}`,
    };
    let server: ServerVersion | undefined;
    let serverError: unknown;
    let serverUrl: string | undefined;
    if (!flagBool(ctx, 'client')) {
      try {
        const api = await ctx.client();
        serverUrl = api.server;
        server = await api.get<ServerVersion>('/version');
      } catch (err) {
        serverError = err;
      }
    }
    const output = flagString(ctx, 'output');
    if (output) {
      const doc = { clientVersion: client, ...(server ? { serverVersion: server } : {}) };
      ctx.io.out(output === 'json' ? toJson(doc) : toYaml(doc));
    } else {
      ctx.io.out(
        `Client Version: ${client.gitVersion} (qxctl${client.gitCommit ? `, commit ${client.gitCommit}` : ''}, node ${client.nodeVersion}, ${client.platform})`,
      );
      if (server)
        ctx.io.out(`Server Version: ${server.gitVersion ?? `v${server.major}.${server.minor}`} (${serverUrl}${server.platform ? `, ${server.platform}` : ''})`);
    }
    if (serverError) throw serverError;
  },
};
