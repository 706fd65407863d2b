/**
 * The cloud-init seeds of the VMs on this node: `<state-dir>/cloud-init/<vm uid>.iso`, built by
 * agent/cloudinit/seed.ts from spec.cloudInit (the host name defaults to the VM's name), left
 * untouched while the content is the same, rebuilt when it changes, removed with the VM.
 * A VM gets a seed when it has spec.cloudInit or boots from an Image (cloud images wait for a
 * datasource, and the host name should be the VM's). User data is never logged.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { VirtualMachine } from '../../api-types/generated/types.js';
import { buildSeedIso } from '../cloudinit/seed.js';
import type { SeedSource } from './sync.js';

export function needsSeed(vm: VirtualMachine): boolean {
  return Boolean(vm.spec.cloudInit) || (vm.spec.disks ?? []).some((d) => Boolean(d.image));
}

export class SeedStore implements SeedSource {
  constructor(private readonly dir: string) {}

  pathOf(vm: VirtualMachine): string {
    return path.join(this.dir, `${vm.metadata.uid}.iso`);
  }

  async ensure(vm: VirtualMachine): Promise<string | undefined> {
    if (!needsSeed(vm)) return undefined;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const ci = vm.spec.cloudInit ?? {};
    const res = await buildSeedIso(
      {
        vmUid: vm.metadata.uid!,
        hostname: ci.hostname ?? vm.metadata.name!,
        ...(ci.userData !== undefined ? { userData: ci.userData } : {}),
        ...(ci.networkData !== undefined ? { networkData: ci.networkData } : {}),
        ...(ci.sshAuthorizedKeys ? { sshAuthorizedKeys: ci.sshAuthorizedKeys } : {}),
      },
      // 0600: the user data may hold secrets; QEMU runs as root here (hack/libvirt-setup.sh).
      { dir: this.dir, name: vm.metadata.uid!, mode: 0o600 },
    );
    return res.path;
  }

  async remove(vm: VirtualMachine): Promise<void> {
    await rm(this.pathOf(vm), { force: true });
  }
}
