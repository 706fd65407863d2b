/** Who is calling: the result of authentication. */
export interface UserInfo {
  name: string;
  uid: string;
  groups: string[];
}

/** Groups that carry meaning to the authorizer. */
export const Groups = {
  /** Everything. */
  admins: 'quantix:admins',
  /** get, list and watch only. */
  viewers: 'quantix:viewers',
  /** Host agents: their own Node and what is bound to it (NodeRestriction). */
  nodes: 'quantix:nodes',
  /** May only register a node through the gateway (join tokens). */
  bootstrappers: 'quantix:bootstrappers',
  authenticated: 'system:authenticated',
} as const;

export const NODE_USER_PREFIX = 'quantix:node:';

/** The node name of a node identity, or undefined for any other user. */
export function nodeNameOf(user: UserInfo): string | undefined {
  if (!user.groups.includes(Groups.nodes) || !user.name.startsWith(NODE_USER_PREFIX)) return undefined;
  return user.name.slice(NODE_USER_PREFIX.length);
}

export interface Authenticator {
  /** Resolves a bearer token to a user, or undefined when the token is unknown. */
  authenticate(token: string): Promise<UserInfo | undefined>;
}

/** Resolves a client certificate the TLS layer verified against the cluster CA (a node's) to its user. */
export interface CertificateAuthenticator {
  authenticateCertificate(cert: { subject: string; serialNumber: string }): Promise<UserInfo | undefined>;
}

/** Tries each authenticator in turn. */
export function chainAuthenticators(...authenticators: Authenticator[]): Authenticator {
  return {
    async authenticate(token) {
      for (const authenticator of authenticators) {
        const user = await authenticator.authenticate(token);
        if (user) return user;
      }
      return undefined;
    },
  };
}
