/**
 * A TCP proxy on 127.0.0.1 that a test can cut and restore: a network partition between one
 * agent and the control plane, while the agent process keeps running (fencing tests).
 *
 *   const proxy = await startTcpProxy(cp.gatewayAddress);
 *   startAgent(cp, { gateway: proxy.address, … });
 *   proxy.cut();      // every connection through it is reset; new ones are refused
 *   proxy.restore();  // connections pass again
 */
import net from 'node:net';

export interface TcpProxy {
  /** 127.0.0.1:PORT to dial instead of the target. */
  address: string;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const i = target.lastIndexOf(':');
  const host = target.slice(0, i);
  const port = Number(target.slice(i + 1));
  const live = new Set<net.Socket>();
  let cut = false;
  const server = net.createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host, port });
    live.add(client);
    live.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      live.delete(client);
      live.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${own}`,
    cut() {
      cut = true;
      for (const s of live) s.destroy();
      live.clear();
    },
    restore() {
      cut = false;
    },
    async close() {
      cut = true;
      for (const s of live) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
