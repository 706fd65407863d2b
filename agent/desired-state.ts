/**
 * The node's desired state, held in memory from the gateway's WatchDesiredState stream:
 * the VMs bound to this node and the pools assigned to it. Reconnects with capped
 * backoff and resumes from the last resource versions; after a RESET it relists and, at
 * SYNCED, drops what the new list did not contain (as a client-go informer does).
 * Listeners receive keys only: the reconcile loop re-reads the objects here.
 */
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { Image, Network, StoragePool, VirtualMachine } from '../api-types/generated/types.js';
import { gatewayErrorFrom } from '../api-types/proto/errors.js';
import type { DesiredStateEvent } from '../api-types/proto/types.js';
import { DOMAIN_UUID_LABEL } from '../api-types/proto/contract.js';
import type { Logger } from '../lib/logging/logger.js';
import type { GatewayClient } from './gateway-client.js';
import { isUnmanaged } from './vm/decide.js';

export type DesiredChange =
  | { kind: 'vm'; key: string; uid?: string }
  | { kind: 'pool'; name: string }
  | { kind: 'image'; name: string }
  | { kind: 'network'; name: string };

export function vmKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export class DesiredState {
  readonly vms = new Map<string, VirtualMachine>();
  readonly pools = new Map<string, StoragePool>();
  readonly images = new Map<string, Image>();
  readonly networks = new Map<string, Network>();
  readonly #uidToKey = new Map<string, string>();
  #vmRV = '';
  #poolRV = '';
  #imageRV = '';
  #networkRV = '';
  #synced = false;
  /** The next stream lists everything (relist()); cleared by the SYNCED that ends that list. */
  #forceRelist = false;
  #relistWaiters: (() => void)[] = [];
  #relisting: { vms: Set<string>; pools: Set<string>; images: Set<string>; networks: Set<string> } | undefined;
  #stream: ClientReadableStream<DesiredStateEvent> | undefined;
  #stopped = false;
  #backoffMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #syncedWaiters: (() => void)[] = [];
  #connected = false;

  constructor(
    private readonly client: GatewayClient,
    private readonly onChange: (change: DesiredChange) => void,
    private readonly log: Logger,
    /** Called when the stream is (re)established after a failure, and on every SYNCED. */
    private readonly onConnected: (connected: boolean) => void = () => undefined,
  ) {}

  /** True once the first complete list arrived (orphans can only be judged after that). */
  get synced(): boolean {
    return this.#synced;
  }

  get connected(): boolean {
    return this.#connected;
  }

  keyForUid(uid: string): string | undefined {
    return this.#uidToKey.get(uid);
  }

  vmByUid(uid: string): VirtualMachine | undefined {
    const key = this.#uidToKey.get(uid);
    return key ? this.vms.get(key) : undefined;
  }

  /**
   * Whether a host-discovered record of this domain, not Terminated, is bound here: a
   * domain recorded while persistent keeps its record after an undefine leaves it running
   * as a transient domain. A scan: asked only for transient domains Quantix did not define.
   */
  hasLiveHostRecord(domainUuid: string): boolean {
    for (const vm of this.vms.values()) {
      if (!isUnmanaged(vm) || vm.metadata.labels?.[DOMAIN_UUID_LABEL] !== domainUuid) continue;
      if (vm.status?.phase !== 'Terminated') return true;
    }
    return false;
  }

  whenSynced(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncedWaiters.push(resolve));
  }

  start(): void {
    this.#stopped = false;
    this.#open();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#stream?.cancel();
    this.#stream = undefined;
  }

  /**
   * Lists the desired state afresh (RESET, the whole list, SYNCED) instead of resuming:
   * what was removed meanwhile is dropped. Resolves once that list is complete.
   */
  relist(): Promise<void> {
    this.#forceRelist = true;
    const done = new Promise<void>((resolve) => this.#relistWaiters.push(resolve));
    if (this.#stopped) return done;
    // Whatever the old stream still delivers must not complete this list.
    const old = this.#stream;
    this.#stream = undefined;
    old?.cancel();
    return done;
  }

  /** Reopens the stream now (e.g. after re-registration with a new credential). */
  reconnect(): void {
    if (this.#stopped) return;
    this.#stream?.cancel();
  }

  #open(): void {
    if (this.#stopped) return;
    const generations = (m: Map<string, { metadata: { generation?: number } }>): Record<string, number> =>
      Object.fromEntries([...m].map(([name, o]) => [name, o.metadata.generation ?? 0]));
    const resume = !this.#forceRelist && this.#synced && this.#vmRV !== '' && this.#poolRV !== '' && this.#imageRV !== '' && this.#networkRV !== '';
    const stream = this.client.watchDesiredState({
      vmResourceVersion: resume ? this.#vmRV : '',
      poolResourceVersion: resume ? this.#poolRV : '',
      imageResourceVersion: resume ? this.#imageRV : '',
      networkResourceVersion: resume ? this.#networkRV : '',
      knownPools: resume ? generations(this.pools) : {},
      knownImages: resume ? generations(this.images) : {},
      knownNetworks: resume ? generations(this.networks) : {},
    });
    this.#stream = stream;
    let ended = false;
    const end = (why: string) => {
      if (ended) return;
      ended = true;
      if (this.#stream === stream) this.#stream = undefined;
      if (this.#connected) {
        this.#connected = false;
        this.onConnected(false);
      }
      if (this.#stopped) return;
      this.#backoffMs = Math.min(Math.max(this.#backoffMs * 2, 250), 5_000);
      this.log.debug('desired-state stream ended; reconnecting', { reason: why, inMs: this.#backoffMs });
      this.#timer = setTimeout(() => this.#open(), this.#backoffMs * (0.8 + Math.random() * 0.4));
    };
    stream.on('data', (ev: DesiredStateEvent) => {
      if (this.#stream !== stream) return; // cancelled by relist()
      if (!this.#connected) {
        this.#connected = true;
        this.#backoffMs = 0;
        this.onConnected(true);
      }
      this.#apply(ev);
    });
    stream.on('error', (err) => end(gatewayErrorFrom(err).message));
    stream.on('end', () => end('server ended the stream'));
    stream.on('status', () => undefined);
  }

  #apply(ev: DesiredStateEvent): void {
    switch (ev.type) {
      case 'RESET':
        this.#relisting = { vms: new Set(), pools: new Set(), images: new Set(), networks: new Set() };
        return;
      case 'BOOKMARK':
        if (ev.kind === 'VM') this.#vmRV = ev.resourceVersion;
        else if (ev.kind === 'POOL') this.#poolRV = ev.resourceVersion;
        else if (ev.kind === 'IMAGE') this.#imageRV = ev.resourceVersion;
        else if (ev.kind === 'NETWORK') this.#networkRV = ev.resourceVersion;
        return;
      case 'SYNCED': {
        this.#vmRV = ev.vmResourceVersion;
        this.#poolRV = ev.poolResourceVersion;
        this.#imageRV = ev.imageResourceVersion;
        this.#networkRV = ev.networkResourceVersion;
        const relist = this.#relisting;
        this.#relisting = undefined;
        const relistWaiters = relist ? this.#relistWaiters.splice(0) : [];
        if (relist) this.#forceRelist = false;
        if (relist) {
          for (const key of [...this.vms.keys()]) if (!relist.vms.has(key)) this.#deleteVm(key);
          for (const name of [...this.pools.keys()]) if (!relist.pools.has(name)) this.#deleteNamed('pool', name);
          for (const name of [...this.images.keys()]) if (!relist.images.has(name)) this.#deleteNamed('image', name);
          for (const name of [...this.networks.keys()]) if (!relist.networks.has(name)) this.#deleteNamed('network', name);
        }
        if (!this.#synced) {
          this.#synced = true;
          for (const w of this.#syncedWaiters.splice(0)) w();
        }
        this.onConnected(true);
        for (const w of relistWaiters) w();
        return;
      }
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED':
        break;
      default:
        return;
    }
    if (ev.kind === 'VM') {
      this.#vmRV = ev.resourceVersion;
      const vm = JSON.parse(ev.objectJson) as VirtualMachine;
      const key = vmKey(vm.metadata.namespace!, vm.metadata.name!);
      if (ev.type === 'DELETED') {
        this.#deleteVm(key);
        return;
      }
      this.#relisting?.vms.add(key);
      const old = this.vms.get(key);
      if (old && old.metadata.uid !== vm.metadata.uid) this.#uidToKey.delete(old.metadata.uid!);
      this.vms.set(key, vm);
      this.#uidToKey.set(vm.metadata.uid!, key);
      this.onChange({ kind: 'vm', key, uid: vm.metadata.uid });
    } else if (ev.kind === 'POOL') {
      this.#poolRV = ev.resourceVersion;
      this.#applyNamed('pool', ev);
    } else if (ev.kind === 'IMAGE') {
      this.#imageRV = ev.resourceVersion;
      this.#applyNamed('image', ev);
    } else if (ev.kind === 'NETWORK') {
      this.#networkRV = ev.resourceVersion;
      this.#applyNamed('network', ev);
    }
  }

  #mapOf(kind: 'pool' | 'image' | 'network'): Map<string, StoragePool | Image | Network> {
    return kind === 'pool' ? this.pools : kind === 'image' ? this.images : this.networks;
  }

  #applyNamed(kind: 'pool' | 'image' | 'network', ev: DesiredStateEvent): void {
    const obj = JSON.parse(ev.objectJson) as StoragePool | Image | Network;
    const name = obj.metadata.name!;
    if (ev.type === 'DELETED') {
      this.#deleteNamed(kind, name);
      return;
    }
    this.#relisting?.[kind === 'pool' ? 'pools' : kind === 'image' ? 'images' : 'networks'].add(name);
    this.#mapOf(kind).set(name, obj);
    this.onChange({ kind, name });
  }

  #deleteVm(key: string): void {
    const old = this.vms.get(key);
    if (!old) return;
    this.vms.delete(key);
    if (this.#uidToKey.get(old.metadata.uid!) === key) this.#uidToKey.delete(old.metadata.uid!);
    this.onChange({ kind: 'vm', key, uid: old.metadata.uid });
  }

  #deleteNamed(kind: 'pool' | 'image' | 'network', name: string): void {
    if (!this.#mapOf(kind).delete(name)) return;
    this.onChange({ kind, name });
  }
}
