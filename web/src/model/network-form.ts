/**
 * The Network create form: its state, the Network it makes, and the server's field paths
 * mapped back to its inputs. The subnet is optional as a whole (libvirt picks none then).
 */
import type { Network, NetworkMode } from '../../../api-types/generated/types.js';

export interface NetworkForm {
  name: string;
  mode: NetworkMode;
  bridgeName: string;
  address: string;
  prefix: string;
  dhcpStart: string;
  dhcpEnd: string;
  assignedNodes: string[];
}

export const emptyNetworkForm = (): NetworkForm => ({
  name: '',
  mode: 'nat',
  bridgeName: '',
  address: '192.168.150.1',
  prefix: '24',
  dhcpStart: '192.168.150.10',
  dhcpEnd: '192.168.150.250',
  assignedNodes: [],
});

export function networkFromForm(f: NetworkForm): Network {
  const address = f.address.trim();
  const dhcpStart = f.dhcpStart.trim();
  const dhcpEnd = f.dhcpEnd.trim();
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'Network',
    metadata: { name: f.name.trim() },
    spec: {
      mode: f.mode,
      ...(f.bridgeName.trim() ? { bridgeName: f.bridgeName.trim() } : {}),
      ...(address ? { ipv4: { address, prefix: Number(f.prefix), ...(dhcpStart ? { dhcpStart } : {}), ...(dhcpEnd ? { dhcpEnd } : {}) } } : {}),
      ...(f.assignedNodes.length ? { assignedNodes: [...f.assignedNodes].sort() } : {}),
    },
  };
}

/** Form input ids by server field path: `spec.ipv4.dhcpEnd` → `dhcpEnd`. */
export function networkInputForField(field: string): string {
  if (field === 'metadata.name' || field === 'metadata.generateName') return 'name';
  const ipv4 = /^spec\.ipv4\.(address|prefix|dhcpStart|dhcpEnd)\b/.exec(field);
  if (ipv4) return ipv4[1]!;
  if (field === 'spec.ipv4') return 'address';
  const spec = /^spec\.(mode|bridgeName|assignedNodes)\b/.exec(field);
  if (spec) return spec[1]!;
  return 'form';
}

/** Required values; addresses and ranges are the server's to check. */
export function networkLocalErrors(f: NetworkForm): Record<string, string> {
  const out: Record<string, string> = {};
  if (!f.name.trim()) out.name = 'Required';
  if (f.address.trim()) {
    const prefix = Number(f.prefix);
    if (!Number.isInteger(prefix)) out.prefix = 'A prefix length, e.g. 24';
  } else if (f.dhcpStart.trim() || f.dhcpEnd.trim()) out.address = 'A DHCP range needs the subnet address';
  return out;
}
