/**
 * A VM's network side as shown: its interfaces (spec and what the guest agent reports,
 * joined by name), addresses, port forwards, and whether the guest agent answers.
 */
import type { Condition, PortForward, VirtualMachine, VirtualMachineNetwork } from '../../../api-types/generated/types.js';
import { AGENT_CONNECTED_CONDITION } from '../../../api-types/proto/contract.js';

/** `127.0.0.1:2222 → 22/tcp`: where the host listens, and the guest port it reaches. */
export function formatPortForward(pf: PortForward): string {
  return `${pf.hostAddress ?? '127.0.0.1'}:${pf.hostPort} → ${pf.guestPort}/${(pf.protocol ?? 'TCP').toLowerCase()}`;
}

/** The first guest IP address the agent reports, for the list's IP column. */
export function vmAddress(vm: VirtualMachine): string | undefined {
  return vm.status?.interfaces?.find((i) => i.ipAddress)?.ipAddress;
}

export interface InterfaceRow {
  name: string;
  /** `user`, `network default`, `bridge br0`; undefined for an interface only the status knows. */
  attachment?: string;
  macAddress?: string;
  /** The reported addresses: ipAddresses (CIDR) when given, else ipAddress. */
  addresses: string[];
  /** The interface's name inside the guest (eth0, enp1s0). */
  guestName?: string;
  portForwards: string[];
}

function attachmentOf(n: VirtualMachineNetwork): string {
  const type = n.type ?? 'user';
  return type === 'user' ? 'user' : `${type} ${n.source ?? '?'}`;
}

/** One row per interface, in spec order, then any the status reports beyond the spec. */
export function interfaceRows(vm: VirtualMachine): InterfaceRow[] {
  const reported = new Map((vm.status?.interfaces ?? []).map((i) => [i.name ?? '', i]));
  const rows: InterfaceRow[] = (vm.spec.networks ?? []).map((n) => {
    const s = reported.get(n.name);
    reported.delete(n.name);
    return {
      name: n.name,
      attachment: attachmentOf(n),
      macAddress: s?.macAddress ?? n.macAddress,
      addresses: s?.ipAddresses?.length ? s.ipAddresses : s?.ipAddress ? [s.ipAddress] : [],
      guestName: s?.interfaceName,
      portForwards: (n.portForwards ?? []).map(formatPortForward),
    };
  });
  for (const [name, s] of reported) {
    rows.push({
      name: name || '—',
      macAddress: s.macAddress,
      addresses: s.ipAddresses?.length ? s.ipAddresses : s.ipAddress ? [s.ipAddress] : [],
      guestName: s.interfaceName,
      portForwards: [],
    });
  }
  return rows;
}

export type GuestAgentState = { state: 'connected' | 'disconnected' | 'unknown'; condition?: Condition };

/** The AgentConnected condition as one word (unknown before the agent has said). */
export function guestAgentState(vm: VirtualMachine): GuestAgentState {
  const condition = vm.status?.conditions?.find((c) => c.type === AGENT_CONNECTED_CONDITION);
  if (!condition || condition.status === 'Unknown') return { state: 'unknown', condition };
  return { state: condition.status === 'True' ? 'connected' : 'disconnected', condition };
}

/** `Debian GNU/Linux 12 (bookworm)`: the pretty name, else name and version. */
export function guestOsText(vm: VirtualMachine): string | undefined {
  const os = vm.status?.guestOSInfo;
  if (!os) return undefined;
  return os.prettyName || [os.name, os.version].filter(Boolean).join(' ') || os.id;
}
