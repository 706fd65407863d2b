/**
 * The join the registration API triggers: the same procedure as `quantix-agent join`. The
 * cluster CA is fetched from the given server and checked against the pinned hash before
 * anything is sent (CA_MISMATCH otherwise: no trust on first use), kept as
 * <state-dir>/ca.crt, and the agent then registers with the bootstrap token. A refusal by the
 * gateway (TOKEN_*, HOSTNAME_TAKEN) comes back as a HostJoinError with the gateway's code.
 */
import { HostJoinError } from '../../lib/host-join/codes.js';
import type { JoinRequest, JoinResponse } from '../../lib/host-join/protocol.js';
import { fetchAndKeepPinnedCa, joinErrorCodeOf, parseCaCertHash } from '../join.js';
import type { HostJoiner } from './server.js';

export interface ClusterJoinerOptions {
  stateDir: string;
  /** Starts the agent against that server with that bootstrap token; resolves with the Node name once registered. */
  startAgent(server: string, bootstrapToken: string, caPem: string): Promise<string>;
}

export function clusterJoiner(o: ClusterJoinerOptions): HostJoiner {
  return {
    async join(request: JoinRequest): Promise<JoinResponse> {
      const pin = parseCaCertHash(request.caCertHash);
      const { caPem } = await fetchAndKeepPinnedCa(request.server, pin, o.stateDir);
      try {
        return { nodeName: await o.startAgent(request.server, request.bootstrapToken, caPem) };
      } catch (err) {
        const code = joinErrorCodeOf(err);
        if (code && !(err instanceof HostJoinError)) throw new HostJoinError(code, err instanceof Error ? err.message : String(err));
        throw err;
      }
    },
  };
}
