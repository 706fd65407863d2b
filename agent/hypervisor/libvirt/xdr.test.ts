import { XdrError, XdrReader, XdrWriter } from './xdr.js';
import {
  decodeDomainLifecycleMsg,
  decodeHeader,
  decodeRemoteError,
  encodeDomainLifecycleMsg,
  encodeFrame,
  encodeRemoteError,
  MessageStatus,
  MessageType,
  Procs,
  REMOTE_PROGRAM,
  TypedParamType,
  writeTypedParam,
} from './protocol.js';

describe('XDR encoding', () => {
  it('encodes ints big-endian in 4 bytes, hypers in 8', () => {
    const b = new XdrWriter()
      .int(-2)
      .uint(0xdeadbeef)
      .hyper(-1n)
      .uhyper(2n ** 40n)
      .toBuffer();
    expect(b.toString('hex')).toBe('fffffffe' + 'deadbeef' + 'ffffffffffffffff' + '0000010000000000');
    const r = new XdrReader(b);
    expect(r.int()).toBe(-2);
    expect(r.uint()).toBe(0xdeadbeef);
    expect(r.hyper()).toBe(-1n);
    expect(r.uhyperNumber()).toBe(2 ** 40);
    expect(r.remaining).toBe(0);
  });

  it('pads strings and opaque data to 4 bytes and prefixes the length', () => {
    const b = new XdrWriter()
      .string('abcde')
      .opaque(Buffer.from([1, 2, 3, 4]))
      .toBuffer();
    expect(b.toString('hex')).toBe('00000005' + '6162636465000000' + '00000004' + '01020304');
    const r = new XdrReader(b);
    expect(r.string()).toBe('abcde');
    expect([...r.opaque()]).toEqual([1, 2, 3, 4]);
  });

  it('round-trips UTF-8 strings by byte length', () => {
    const s = 'vm-ünïcode-✓';
    const b = new XdrWriter().string(s).toBuffer();
    expect(b.readUInt32BE(0)).toBe(Buffer.byteLength(s));
    expect(b.length % 4).toBe(0);
    expect(new XdrReader(b).string()).toBe(s);
  });

  it('encodes fixed opaque without a length and checks its size', () => {
    const uuid = Buffer.alloc(16, 0xab);
    expect(new XdrWriter().fixedOpaque(uuid, 16).toBuffer()).toEqual(uuid);
    expect(() => new XdrWriter().fixedOpaque(Buffer.alloc(3), 16)).toThrow(XdrError);
  });

  it('encodes optional data as bool + value', () => {
    const b = new XdrWriter()
      .optional<string>(null, (w, v) => w.string(v))
      .optional('x', (w, v) => w.string(v))
      .toBuffer();
    expect(b.toString('hex')).toBe('00000000' + '00000001' + '00000001' + '78000000');
    const r = new XdrReader(b);
    expect(r.optional((x) => x.string())).toBeNull();
    expect(r.optional((x) => x.string())).toBe('x');
  });

  it('encodes variable arrays with a count', () => {
    const b = new XdrWriter().array([1, 2, 3], (w, v) => w.int(v)).toBuffer();
    expect(new XdrReader(b).array((r) => r.int())).toEqual([1, 2, 3]);
  });

  it('rejects out-of-range values and truncated or absurd input', () => {
    expect(() => new XdrWriter().int(2 ** 31)).toThrow(XdrError);
    expect(() => new XdrWriter().uint(-1)).toThrow(XdrError);
    expect(() => new XdrWriter().int(1.5)).toThrow(XdrError);
    expect(() => new XdrReader(Buffer.from([0, 0, 0])).int()).toThrow(/truncated/);
    expect(() => new XdrReader(Buffer.from('0000000a6162', 'hex')).string()).toThrow(/truncated/);
    expect(() => new XdrReader(Buffer.from('7fffffff', 'hex')).array((r) => r.int())).toThrow(/larger than the remaining/);
    expect(() => new XdrReader(Buffer.from('00000002', 'hex')).bool()).toThrow(/bool/);
  });

  it('encodes doubles as 8-byte IEEE 754 big-endian', () => {
    const b = new XdrWriter().double(1.5).double(-0.1).toBuffer();
    expect(b.toString('hex')).toBe('3ff8000000000000' + 'bfb999999999999a');
    const r = new XdrReader(b);
    expect(r.double()).toBe(1.5);
    expect(r.double()).toBe(-0.1);
  });

  it('grows its buffer for large payloads', () => {
    const big = 'x'.repeat(100_000);
    const b = new XdrWriter(8).string(big).toBuffer();
    expect(new XdrReader(b).string()).toBe(big);
  });
});

describe('libvirt protocol codecs', () => {
  it('frames a call: length word, header, payload', () => {
    const w = new XdrWriter();
    Procs.connectOpen.encode(w, { name: 'qemu:///system', flags: 0 });
    const payload = w.toBuffer();
    const frame = encodeFrame(
      { prog: REMOTE_PROGRAM, vers: 1, proc: Procs.connectOpen.proc, type: MessageType.Call, serial: 7, status: MessageStatus.Ok },
      payload,
    );
    expect(frame.readUInt32BE(0)).toBe(frame.length);
    const r = new XdrReader(frame, 4);
    expect(decodeHeader(r)).toEqual({ prog: 0x20008086, vers: 1, proc: 1, type: MessageType.Call, serial: 7, status: MessageStatus.Ok });
    // remote_string name (present) + flags
    expect(r.bool()).toBe(true);
    expect(r.string()).toBe('qemu:///system');
    expect(r.uint()).toBe(0);
  });

  it('uses the procedure numbers of remote_protocol.x', () => {
    expect(Procs.connectOpen.proc).toBe(1);
    expect(Procs.nodeGetInfo.proc).toBe(6);
    expect(Procs.domainLookupByUuid.proc).toBe(24);
    expect(Procs.storagePoolCreate.proc).toBe(78);
    expect(Procs.connectGetLibVersion.proc).toBe(157);
    expect(Procs.domainGetState.proc).toBe(212);
    expect(Procs.connectListAllDomains.proc).toBe(273);
    expect(Procs.connectDomainEventCallbackRegisterAny.proc).toBe(316);
    expect(Procs.domainDefineXmlFlags.proc).toBe(350);
    expect(Procs.networkCreate.proc).toBe(39);
    expect(Procs.networkDefineXml.proc).toBe(41);
    expect(Procs.networkDestroy.proc).toBe(42);
    expect(Procs.networkGetXmlDesc.proc).toBe(43);
    expect(Procs.networkGetAutostart.proc).toBe(44);
    expect(Procs.networkLookupByName.proc).toBe(46);
    expect(Procs.networkSetAutostart.proc).toBe(48);
    expect(Procs.networkUndefine.proc).toBe(49);
    expect(Procs.domainIsPersistent.proc).toBe(151);
    expect(Procs.networkIsActive.proc).toBe(152);
    expect(Procs.networkIsPersistent.proc).toBe(153);
    expect(Procs.connectListAllNetworks.proc).toBe(283);
    expect(Procs.domainGetGuestInfo.proc).toBe(418);
    const nums = Object.values(Procs).map((p) => p.proc);
    expect(new Set(nums).size).toBe(nums.length);
  });

  it('decodes node info with its char[32] model encoded as 32 ints', () => {
    const w = new XdrWriter();
    const model = 'x86_64';
    for (let i = 0; i < 32; i++) w.int(i < model.length ? model.charCodeAt(i) : 0);
    w.uhyper(8_000_000).int(8).int(2400).int(1).int(1).int(4).int(2);
    const info = Procs.nodeGetInfo.decode(new XdrReader(w.toBuffer()));
    expect(info).toEqual({ model: 'x86_64', memoryKiB: 8_000_000, cpus: 8, mhz: 2400, nodes: 1, sockets: 1, cores: 4, threads: 2 });
  });

  it('round-trips a remote error and a lifecycle event message', () => {
    const w = new XdrWriter();
    const err = {
      code: 42,
      domain: 10,
      message: "Domain not found: no domain with matching uuid 'x'",
      level: 2,
      str1: 'a',
      str2: null,
      str3: null,
      int1: -1,
      int2: 0,
    };
    encodeRemoteError(w, err);
    expect(decodeRemoteError(new XdrReader(w.toBuffer()))).toEqual(err);

    const m = { callbackID: 3, dom: { name: 'vm', uuid: Buffer.alloc(16, 1), id: 5 }, event: 2, detail: 0 };
    const w2 = new XdrWriter();
    encodeDomainLifecycleMsg(w2, m);
    expect(decodeDomainLifecycleMsg(new XdrReader(w2.toBuffer()))).toEqual(m);
  });

  // The byte strings below are written by hand from the .x layouts, not produced by the encoder under test.
  const UUID1 = '01'.repeat(16);

  it('encodes DOMAIN_GET_GUEST_INFO args: domain, types, flags', () => {
    const w = new XdrWriter();
    Procs.domainGetGuestInfo.encode(w, { dom: { name: 'vm', uuid: Buffer.alloc(16, 1), id: 3 }, types: 78, flags: 0 });
    // remote_nonnull_domain {string name; uuid[16]; int id}, unsigned types, unsigned flags
    expect(w.toBuffer().toString('hex')).toBe('00000002' + '766d0000' + UUID1 + '00000003' + '0000004e' + '00000000');
  });

  it('decodes DOMAIN_GET_GUEST_INFO replies: typed parameters of every type', () => {
    const reply =
      '00000007' + // 7 params
      ('00000008' + '686f73746e616d65' + '00000007' + '00000005' + '7765622d31000000') + // hostname: string "web-1"
      ('00000008' + '69662e636f756e74' + '00000002' + '00000001') + // if.count: uint 1
      ('0000000f' + '74696d657a6f6e652e6f666673657400' + '00000001' + 'fffff1f0') + // timezone.offset: int -3600
      ('00000001' + '6c000000' + '00000003' + 'fffffffffffffffe') + // l: llong -2
      ('00000001' + '75000000' + '00000004' + '0000010000000000') + // u: ullong 2^40
      ('00000001' + '64000000' + '00000005' + '3ff8000000000000') + // d: double 1.5
      ('00000001' + '62000000' + '00000006' + '00000001'); // b: boolean true
    const params = Procs.domainGetGuestInfo.decode(new XdrReader(Buffer.from(reply, 'hex')));
    expect(params).toEqual([
      { field: 'hostname', type: TypedParamType.String, value: 'web-1' },
      { field: 'if.count', type: TypedParamType.UInt, value: 1 },
      { field: 'timezone.offset', type: TypedParamType.Int, value: -3600 },
      { field: 'l', type: TypedParamType.LLong, value: -2n },
      { field: 'u', type: TypedParamType.ULLong, value: 2n ** 40n },
      { field: 'd', type: TypedParamType.Double, value: 1.5 },
      { field: 'b', type: TypedParamType.Boolean, value: true },
    ]);
    // The test encoder (fake libvirtd) writes the same bytes.
    const w = new XdrWriter();
    w.array(params, writeTypedParam);
    expect(w.toBuffer().toString('hex')).toBe(reply);
    // An unknown union arm cannot be skipped: the message is undecodable.
    expect(() => Procs.domainGetGuestInfo.decode(new XdrReader(Buffer.from('00000001' + '00000001' + '78000000' + '00000009', 'hex')))).toThrow(
      /unknown type 9/,
    );
  });

  it('encodes network handles and decodes CONNECT_LIST_ALL_NETWORKS replies', () => {
    const w = new XdrWriter();
    Procs.networkSetAutostart.encode(w, { net: { name: 'qx', uuid: Buffer.alloc(16, 1) }, autostart: true });
    // remote_nonnull_network {string name; uuid[16]}, int autostart
    expect(w.toBuffer().toString('hex')).toBe('00000002' + '71780000' + UUID1 + '00000001');
    const args = new XdrWriter();
    Procs.connectListAllNetworks.encode(args, { flags: 0 });
    expect(args.toBuffer().toString('hex')).toBe('00000001' + '00000000'); // need_results, flags
    const reply = Buffer.from('00000001' + ('00000007' + '64656661756c7400' + UUID1) + '00000001', 'hex');
    expect(Procs.connectListAllNetworks.decode(new XdrReader(reply))).toEqual([{ name: 'default', uuid: Buffer.alloc(16, 1) }]);
    expect(Procs.networkIsActive.decode(new XdrReader(Buffer.from('00000001', 'hex')))).toBe(true);
    expect(Procs.networkGetAutostart.decode(new XdrReader(Buffer.from('00000000', 'hex')))).toBe(false);
  });

  it('decodes list-all replies (array + count)', () => {
    const w = new XdrWriter();
    w.array([{ name: 'a', uuid: Buffer.alloc(16, 2), id: -1 }], (x, d) => x.string(d.name).fixedOpaque(d.uuid, 16).int(d.id));
    w.uint(1);
    const doms = Procs.connectListAllDomains.decode(new XdrReader(w.toBuffer()));
    expect(doms).toEqual([{ name: 'a', uuid: Buffer.alloc(16, 2), id: -1 }]);
  });
});
