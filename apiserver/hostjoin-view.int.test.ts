/**
 * The host token of a HostJoin is the admin's: viewers read HostJoins through the real
 * apiserver (get, list, watch) without spec.hostToken, and may not write them.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { HostJoin } from '../api-types/generated/types.js';
import type { WatchEvent } from '../api-types/meta.js';
import { HttpApiClient } from '../controllers/runtime/client.js';
import { HostJoins } from '../controllers/runtime/resources.js';
import { startTestApiserver, type TestApiserver } from '../hack/testenv/apiserver.js';
import { eventually } from '../hack/testenv/eventually.js';

const HOST_TOKEN = 'abcde-fghij-klmno-pqrst-uvwxy';
let env: TestApiserver;
let admin: HttpApiClient;
let viewer: HttpApiClient;

beforeAll(async () => {
  env = await startTestApiserver();
  admin = await HttpApiClient.fromFile(env.kubeconfig);
  viewer = await HttpApiClient.fromFile(env.viewerKubeconfig);
});

afterAll(async () => {
  admin?.close();
  viewer?.close();
  await env?.stop();
});

const hostJoin = (name: string): HostJoin => ({
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'HostJoin',
  metadata: { name },
  spec: { url: 'https://127.0.0.31:9443', hostToken: HOST_TOKEN, fingerprint: `sha256:${'AB:'.repeat(31)}AB` },
});

describe('HostJoins as a viewer reads them', () => {
  it('get and list leave the host token out; the admin sees it', async () => {
    await admin.create(HostJoins, hostJoin('view-get'));
    expect((await admin.get<HostJoin>(HostJoins, undefined, 'view-get')).spec.hostToken).toBe(HOST_TOKEN);
    const got = await viewer.get<HostJoin>(HostJoins, undefined, 'view-get');
    expect(got.spec).toEqual({ url: 'https://127.0.0.31:9443', fingerprint: hostJoin('x').spec.fingerprint });
    const list = await viewer.list<HostJoin>(HostJoins);
    expect(list.items.map((h) => h.metadata.name)).toContain('view-get');
    expect(JSON.stringify(list)).not.toContain(HOST_TOKEN);
  });

  it('a watch leaves it out too', async () => {
    const events: WatchEvent<HostJoin>[] = [];
    const { resourceVersion } = await viewer.list<HostJoin>(HostJoins);
    const handle = await viewer.watch<HostJoin>(
      HostJoins,
      { resourceVersion },
      (e) => events.push(e),
      () => undefined,
    );
    try {
      await admin.create(HostJoins, hostJoin('view-watch'));
      await eventually(() => events.some((e) => e.type === 'ADDED' && e.object.metadata.name === 'view-watch'), { message: 'the ADDED event' });
      expect(JSON.stringify(events)).not.toContain(HOST_TOKEN);
    } finally {
      handle.abort();
    }
  });

  it('a viewer may not create or change one', async () => {
    await expect(viewer.create(HostJoins, hostJoin('view-create'))).rejects.toMatchObject({ code: 403 });
    await expect(viewer.patch(HostJoins, undefined, 'view-get', { spec: { hostToken: null } })).rejects.toMatchObject({ code: 403 });
  });
});
