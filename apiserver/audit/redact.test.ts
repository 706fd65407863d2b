import { REDACTED, redactObject } from './redact.js';

const USER_DATA = '#cloud-config\npassword: hunter2-secret';
const NETWORK_DATA = 'version: 2\nethernets: {eth0: {dhcp4: true}}';

function vm() {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: {
      name: 'web',
      namespace: 'default',
      managedFields: [{ manager: 'qxctl' }],
      annotations: { 'quantix.io/correlation-id': 'c1' },
    },
    spec: { cpu: 1, cloudInit: { userData: USER_DATA, networkData: NETWORK_DATA, hostname: 'web', sshAuthorizedKeys: ['ssh-ed25519 AAAA'] } },
  };
}

describe('redactObject', () => {
  it("replaces cloud-init's userData and networkData, keeps the rest", () => {
    const out = redactObject(vm()) as ReturnType<typeof vm>;
    expect(out.spec.cloudInit).toEqual({ userData: REDACTED, networkData: REDACTED, hostname: 'web', sshAuthorizedKeys: ['ssh-ed25519 AAAA'] });
    expect(out.metadata.name).toBe('web');
    expect(out.metadata.managedFields).toEqual([{ manager: 'qxctl' }]);
  });

  it('does not change its input', () => {
    const input = vm();
    redactObject(input);
    expect(input.spec.cloudInit.userData).toBe(USER_DATA);
  });

  it("redacts a list's items and a watch event's object", () => {
    const list = { kind: 'VirtualMachineList', items: [vm(), vm()] };
    expect(JSON.stringify(redactObject(list))).not.toContain('hunter2');
    expect(JSON.stringify(redactObject({ type: 'ADDED', object: vm() }))).not.toContain('hunter2');
  });

  it("redacts HostJoin's host token and BootstrapToken's token", () => {
    const hostJoin = { kind: 'HostJoin', spec: { url: 'https://host:9443', hostToken: 'qxh-secret-host-token', fingerprint: 'sha256:AB' } };
    expect(redactObject(hostJoin)).toEqual({ kind: 'HostJoin', spec: { url: 'https://host:9443/', hostToken: REDACTED, fingerprint: 'sha256:AB' } });
    const token = { kind: 'BootstrapToken', status: { token: 'abcdef.0123456789abcdef', caCertHash: 'sha256:00' } };
    expect(redactObject(token)).toEqual({ kind: 'BootstrapToken', status: { token: REDACTED, caCertHash: 'sha256:00' } });
  });

  it('prints URLs without user info, query or fragment', () => {
    const image = { spec: { source: { url: 'https://user:pw@images.example/debian.qcow2?X-Amz-Signature=s3cr3t#f' } } };
    expect(redactObject(image)).toEqual({ spec: { source: { url: 'https://images.example/debian.qcow2' } } });
  });

  it('redacts merge patches and apply patches by the same field names', () => {
    const patch = { spec: { cloudInit: { userData: USER_DATA } } };
    expect(redactObject(patch)).toEqual({ spec: { cloudInit: { userData: REDACTED } } });
  });

  it("redacts a JSON patch op's value under a secret path, or inside its value", () => {
    const ops = [
      { op: 'replace', path: '/spec/cloudInit/userData', value: USER_DATA },
      { op: 'add', path: '/spec/cloudInit', value: { userData: USER_DATA, hostname: 'h' } },
      { op: 'replace', path: '/spec/cpu', value: 2 },
      { op: 'remove', path: '/spec/cloudInit/networkData' },
    ];
    expect(redactObject(ops)).toEqual([
      { op: 'replace', path: '/spec/cloudInit/userData', value: REDACTED },
      { op: 'add', path: '/spec/cloudInit', value: { userData: REDACTED, hostname: 'h' } },
      { op: 'replace', path: '/spec/cpu', value: 2 },
      { op: 'remove', path: '/spec/cloudInit/networkData' },
    ]);
  });

  it("redacts kubectl's last-applied-configuration annotation, which holds the whole object", () => {
    const applied = vm();
    const obj = { ...vm(), metadata: { ...vm().metadata, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(applied) } } };
    const out = redactObject(obj) as { metadata: { annotations: Record<string, string> } };
    expect(JSON.stringify(out)).not.toContain('hunter2');
    expect(JSON.parse(out.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']!)).toMatchObject({
      spec: { cloudInit: { userData: REDACTED } },
    });
    const broken = { metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': `{"userData": "${'hunter2'}` } } };
    expect(JSON.stringify(redactObject(broken))).not.toContain('hunter2');
  });

  it('omits managedFields when asked', () => {
    const out = redactObject({ items: [vm()] }, { omitManagedFields: true }) as { items: { metadata: Record<string, unknown> }[] };
    expect(out.items[0]!.metadata).not.toHaveProperty('managedFields');
    expect(out.items[0]!.metadata.name).toBe('web');
  });

  it('leaves scalars and null alone', () => {
    expect(redactObject(null)).toBeNull();
    expect(redactObject('text')).toBe('text');
    expect(redactObject({ token: null })).toEqual({ token: null });
  });
});
