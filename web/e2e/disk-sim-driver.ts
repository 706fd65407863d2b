/**
 * The sim hypervisor with one real part: pool file listings come from the real directory
 * at the pool's target path, through the same code the libvirt driver uses
 * (agent/hypervisor/files.ts). The browser suite can then write a file on disk and see it
 * in the UI's file browser without a libvirtd: disk → agent → tunnel → apiserver → UI.
 */
import { listPoolFiles } from '../../agent/hypervisor/files.js';
import type { FileListing, ListFilesOptions } from '../../agent/hypervisor/driver.js';
import { SimDriver } from '../../agent/hypervisor/sim/driver.js';

export class DiskSimDriver extends SimDriver {
  override async listFiles(poolTargetPath: string, relPath: string, options: ListFilesOptions = {}): Promise<FileListing> {
    return listPoolFiles(poolTargetPath, relPath, options);
  }
}
