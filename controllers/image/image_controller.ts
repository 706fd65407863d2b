/**
 * The image controller: aggregates the per-node import reports in status.nodes into
 * status.phase, size, checksum, usedBy and the Ready/InUse conditions (image_reconcile.ts);
 * keeps the `quantix.io/image-in-use` finalizer on every Image a VM's disks name, so that
 * deleting an image in use waits (and says which VMs hold it); and records the import
 * Events (ImportStarted, ImportSucceeded, ImportFailed) when a node's report changes phase;
 * drops the reports of deleted nodes.
 */
import type { Image, Node, VirtualMachine } from '../../api-types/generated/types.js';
import { imagesOf } from '../../api-types/image-usage.js';
import { isNotFound } from '../../lib/apimachinery/status-error.js';
import { commitStatus } from '../runtime/committer.js';
import { correlationIdFromStore } from '../runtime/correlation.js';
import { Controller, done } from '../runtime/controller.js';
import type { ControllerSetup } from '../runtime/manager.js';
import { Images, keyOf, Nodes, VirtualMachines } from '../runtime/resources.js';
import { importEvents, planImage, planImageFinalizer } from './image_reconcile.js';

export interface ImageControllerOptions {
  workers?: number;
  resyncPeriodMs?: number;
}

export const IMAGE_CONTROLLER = 'image';

/** The VM cache index by the images its disks name. */
const BY_IMAGE = 'images';

export function imageController(options: ImageControllerOptions = {}): ControllerSetup {
  return (ctx) => {
    const sharedClient = ctx.clientFor(IMAGE_CONTROLLER);
    const images = ctx.informers.informerFor<Image>(Images);
    const vms = ctx.informers.informerFor<VirtualMachine>(VirtualMachines);
    const nodes = ctx.informers.informerFor<Node>(Nodes);
    if (!vms.store.hasIndex(BY_IMAGE)) vms.store.addIndex(BY_IMAGE, imagesOf);
    const events = ctx.events.forComponent('quantix-image-controller');
    const controller = new Controller({
      name: IMAGE_CONTROLLER,
      workers: options.workers ?? 2,
      logger: ctx.logger,
      resyncPeriodMs: options.resyncPeriodMs ?? 5 * 60_000,
      listKeys: () => images.store.keys(),
      correlationIdOf: correlationIdFromStore(images.store),
      reconcile: async ({ key, correlationId }) => {
        const client = sharedClient.withCorrelationId(correlationId);
        const image = images.store.get(key);
        if (!image) return done();
        const usedBy = vms.store.byIndex(BY_IMAGE, image.metadata.name!).map((vm) => `${vm.metadata.namespace}/${vm.metadata.name}`);
        let current = image;
        const finalizers = planImageFinalizer(image, usedBy);
        if (finalizers) {
          try {
            current = await client.patch<Image>(Images, undefined, image.metadata.name!, {
              metadata: { resourceVersion: image.metadata.resourceVersion, finalizers: finalizers.length ? finalizers : null },
            });
          } catch (err) {
            if (isNotFound(err)) return done();
            throw err;
          }
          if (image.metadata.deletionTimestamp && finalizers.length === 0) return done(); // released: gone
        }
        const plan = planImage(image, usedBy, Date.now(), new Set(nodes.store.keys()));
        await commitStatus(client, Images, { ...current, status: image.status }, plan.status);
        for (const e of plan.events) events.record(image, e);
        return done();
      },
    });
    images.on({
      add: (i) => controller.enqueue(keyOf(i)),
      update: (old, i) => {
        for (const e of importEvents(old, i)) events.record(i, e);
        controller.enqueue(keyOf(i));
      },
    });
    const touch = (...list: (VirtualMachine | undefined)[]) => {
      for (const name of new Set(list.flatMap(imagesOf))) controller.enqueue(name);
    };
    // A deleted node's reports are dropped from the images it had.
    nodes.on({
      delete: (node) => {
        for (const image of images.store.list()) if (image.status?.nodes?.[node.metadata.name!]) controller.enqueue(keyOf(image));
      },
    });
    vms.on({
      add: (vm) => touch(vm),
      update: (old, vm) => {
        const before = imagesOf(old);
        const after = imagesOf(vm);
        if (before.length !== after.length || before.some((p) => !after.includes(p))) touch(old, vm);
      },
      delete: (vm) => touch(vm),
    });
    return controller;
  };
}
