/**
 * The join the registration API triggers, until `quantix-agent join` (bootstrap tokens and a
 * certificate per node, another branch of issue 16) replaces it: the CA the agent already has
 * (--ca-file) must match the pinned hash — otherwise CA_MISMATCH, no trust on first use — and
 * the agent then registers through the gateway the way it does today, with the given token as
 * its join token.
 */
import { caCertHash } from '../../lib/host-join/ca-hash.js';
import { HostJoinError } from '../../lib/host-join/codes.js';
import type { JoinRequest, JoinResponse } from '../../lib/host-join/protocol.js';
import type { HostJoiner } from './server.js';

export interface InterimJoinerOptions {
  /** The CA the agent trusts (its --ca-file), if it has one. */
  caPem: string | undefined;
  /** Starts the agent against that server with that join token; resolves with the Node name once registered. */
  startAgent(server: string, joinToken: string, caPem: string): Promise<string>;
}

/** Gateway refusals → host-join codes (the gateway's own codes arrive with the other branch). */
function codeOfRegistrationError(err: unknown): HostJoinError | undefined {
  const reason = (err as { reason?: unknown }).reason;
  const message = err instanceof Error ? err.message : String(err);
  if (reason === 'Unauthorized') return new HostJoinError('TOKEN_INVALID', `the gateway refused the bootstrap token: ${message}`);
  if (reason === 'AlreadyExists') return new HostJoinError('HOSTNAME_TAKEN', message);
  return undefined;
}

export function interimJoiner(o: InterimJoinerOptions): HostJoiner {
  return {
    async join(request: JoinRequest): Promise<JoinResponse> {
      if (!o.caPem) throw new HostJoinError('CA_MISMATCH', 'this host has no cluster CA to check the pinned hash against (start the agent with --ca-file)');
      const have = caCertHash(o.caPem);
      if (have.toLowerCase() !== request.caCertHash.toLowerCase()) {
        throw new HostJoinError('CA_MISMATCH', `the host's CA hashes to ${have}, not the pinned ${request.caCertHash}`);
      }
      try {
        return { nodeName: await o.startAgent(request.server, request.bootstrapToken, o.caPem) };
      } catch (err) {
        throw codeOfRegistrationError(err) ?? err;
      }
    },
  };
}
