/**
 * The agent's place in the cluster: registration under the host's name (with the stored
 * node credential, else the join token), the node facts it reports (also in heartbeats),
 * re-registration when the credential is refused or the Node was deleted, and whether the
 * control plane is reachable right now.
 */
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { GatewayError } from '../api-types/proto/errors.js';
import type { NodeInfo, RegisterNodeResponse, Resources } from '../api-types/proto/types.js';
import type { Logger } from '../lib/logging/logger.js';
import type { GatewayClient } from './gateway-client.js';
import type { HostInfo, HypervisorDriver } from './hypervisor/driver.js';
import { defaultAddresses, defaultHostname, type StateDir } from './identity.js';
import { certificateRequest, nodeNameOfHostname, usable } from './node-certificate.js';

/** Errors registration cannot get past by retrying. */
const FATAL_REGISTRATION_REASONS = new Set(['AlreadyExists', 'Invalid', 'BadRequest', 'Forbidden']);

function osImage(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? '';
  } catch {
    return '';
  }
}

export interface SessionOptions {
  client: GatewayClient;
  stateDir: StateDir;
  driver: HypervisorDriver;
  log: Logger;
  caPem: string;
  agentVersion: string;
  /** The apiserver URL written into <state-dir>/kubeconfig. */
  server?: string;
  joinToken?: string;
  /** False: no certificate request, so the gateway answers a bearer credential. */
  requestCertificate: boolean;
  hostname?: string;
  addresses?: string[];
  /** False once the agent stops: registration gives up retrying. */
  running: () => boolean;
  /** After a re-registration: reopen the streams and resync. */
  onReregistered: () => void;
  /** A node certificate was issued (schedule its renewal). */
  onCertificate?: (certPem: string) => void;
}

export class NodeSession {
  nodeName = '';
  nodeUid = '';
  machineId = '';
  /** False from a failed heartbeat or a broken desired state stream until either works again. */
  controlPlaneReachable = true;
  #host: HostInfo | undefined;
  #registering: Promise<void> | undefined;

  constructor(private readonly o: SessionOptions) {}

  /** The management addresses reported (default: the host's non-loopback IPs). */
  addresses(): string[] {
    return this.o.addresses ?? defaultAddresses();
  }

  loadMachineId(): void {
    this.machineId = this.o.stateDir.machineId();
  }

  async #hostInfo(): Promise<HostInfo | undefined> {
    if (this.#host) return this.#host;
    if (this.o.driver.connectionState() !== 'connected') return undefined;
    try {
      this.#host = await this.o.driver.hostInfo();
    } catch {
      return undefined;
    }
    return this.#host;
  }

  async nodeFacts(): Promise<{ nodeInfo: NodeInfo; capacity: Resources }> {
    const host = await this.#hostInfo();
    const { driver } = this.o;
    return {
      nodeInfo: {
        hypervisor: driver.kind === 'sim' ? 'sim' : (host?.domainType ?? ''),
        hypervisorVersion: host?.hypervisorVersion ?? '',
        libvirtVersion: driver.kind === 'sim' ? '' : (host?.libvirtVersion ?? ''),
        agentVersion: this.o.agentVersion,
        cpuModel: host?.cpuModel ?? cpus()[0]?.model ?? '',
        kernelVersion: release(),
        osImage: osImage(),
        machineId: this.machineId,
      },
      capacity: { cpu: host?.cpuCount ?? cpus().length, memoryBytes: host?.memoryBytes ?? totalmem() },
    };
  }

  async #register(): Promise<void> {
    const { client, stateDir, log } = this.o;
    const facts = await this.nodeFacts();
    const hostname = this.o.hostname ?? this.#host?.hostname ?? defaultHostname();
    // A certificate request for this host's own key: the gateway answers a client certificate.
    const csrPem = !this.o.requestCertificate
      ? ''
      : await certificateRequest(stateDir.nodeKeyFile(), nodeNameOfHostname(hostname)).catch((err: Error) => {
          log.warn('cannot make a certificate request; registering for a bearer credential', { error: err.message });
          return '';
        });
    const req = {
      hostname,
      machineId: this.machineId,
      addresses: this.addresses(),
      nodeInfo: facts.nodeInfo,
      capacity: facts.capacity,
      allocatable: facts.capacity,
      csrPem,
    };
    let res: RegisterNodeResponse | undefined;
    // 1. Our own certificate, while it is good (a renewal, a restart, a re-registration).
    const certificate = stateDir.nodeCertificate();
    if (usable(certificate, Date.now())) {
      client.presentClientCertificate(stateDir.nodeKey(), certificate!);
      try {
        res = await client.registerNode(req, '');
      } catch (err) {
        if (!(err instanceof GatewayError) || err.reason !== 'Unauthorized') throw err;
        log.warn('node certificate refused (revoked, or its Node was deleted); registering with the join token');
      }
    }
    // 2. A bearer credential of a control plane that signed no certificate.
    const saved = stateDir.credential();
    if (!res && saved) {
      try {
        res = await client.registerNode(req, saved);
      } catch (err) {
        if (!(err instanceof GatewayError) || err.reason !== 'Unauthorized') throw err;
        log.warn('stored node credential refused; registering with the join token');
      }
    }
    if (!res) {
      if (!this.o.joinToken)
        throw new GatewayError('Unauthorized', 'no valid node credential in the state dir and no join token given (--join-token-file)', 16);
      res = await client.registerNode(req, this.o.joinToken);
    }
    if (res.certificatePem) {
      // Mutual TLS from now on; a bearer credential is not kept.
      stateDir.saveNodeCertificate(res.certificatePem);
      stateDir.clearCredential();
      client.presentClientCertificate(stateDir.nodeKey(), res.certificatePem);
      if (this.o.server) stateDir.saveKubeconfig(this.o.server, this.o.caPem, res.nodeName, { certPem: res.certificatePem, keyPem: stateDir.nodeKey() });
      this.o.onCertificate?.(res.certificatePem);
    } else {
      stateDir.saveCredential(res.credential);
      if (this.o.server) stateDir.saveKubeconfig(this.o.server, this.o.caPem, res.nodeName, res.credential);
      client.setToken(res.credential);
    }
    this.nodeName = res.nodeName;
    this.nodeUid = res.nodeUid;
    log.info(res.reregistered ? 're-registered' : 'registered', { nodeName: res.nodeName, uid: res.nodeUid, assignedPools: res.assignedPools });
  }

  /** Registers, retrying with backoff; throws when refused for good (or the agent stopped). */
  async registerWithRetry(): Promise<void> {
    const { log } = this.o;
    let delay = 500;
    for (;;) {
      try {
        await this.#register();
        return;
      } catch (err) {
        const e = err instanceof GatewayError ? err : undefined;
        if (
          e &&
          (FATAL_REGISTRATION_REASONS.has(e.reason) ||
            (e.reason === 'Unauthorized' && !this.o.stateDir.credential() && !usable(this.o.stateDir.nodeCertificate(), Date.now())))
        ) {
          log.error('registration refused', { reason: e.reason, error: e.message });
          throw e;
        }
        if (!this.o.running()) throw err;
        log.warn('registration failed; retrying', { error: (err as Error).message, inMs: delay });
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  /** Registers again (credential refused, or the Node was deleted), then resyncs. Concurrent calls share one. */
  reregister(): Promise<void> {
    this.#registering ??= (async () => {
      try {
        await this.registerWithRetry();
        this.o.onReregistered();
      } catch (err) {
        this.o.log.error('re-registration failed', { error: (err as Error).message });
      } finally {
        this.#registering = undefined;
      }
    })();
    return this.#registering;
  }
}
