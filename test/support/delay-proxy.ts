// A TCP proxy on loopback that holds back what a client sends, to stand in for a slow server (Redis that
// answers after seconds). Bounded: at most MAX_CONNECTIONS connections, delays capped at MAX_DELAY_MS,
// and close() ends everything.
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

const MAX_CONNECTIONS = 64;
const MAX_DELAY_MS = 10_000;

export interface DelayRule {
  /** How long each chunk from the client is held before it is passed on. */
  ms: number;
  /**
   * Start holding on a connection at the first chunk this matches (that chunk and every later one, so the
   * order stays); default: every chunk.
   */
  from?: (chunk: string) => boolean;
}

export interface DelayProxy {
  /** `redis://127.0.0.1:<port>` style address of the proxy (same scheme as the target). */
  url: string;
  /** Holds client bytes from now on (null: pass them on at once; chunks already held keep their time). */
  delay(rule: DelayRule | null): void;
  /** Chunks held since the last delay() with a rule. */
  held(): number;
  close(): Promise<void>;
}

export async function startDelayProxy(target: string): Promise<DelayProxy> {
  const upstream = new URL(target);
  let rule: DelayRule | null = null;
  let held = 0;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const server = createServer((client) => {
    const server = connect(Number(upstream.port), upstream.hostname);
    sockets.add(client).add(server);
    let holding = false;
    let lastRelease = 0;
    client.on('data', (chunk: Buffer) => {
      const now = Date.now();
      if (rule && !holding && (!rule.from || rule.from(chunk.toString('latin1')))) holding = true;
      const wait = holding && rule ? Math.min(rule.ms, MAX_DELAY_MS) : 0;
      const releaseAt = Math.max(lastRelease, now + wait);
      lastRelease = releaseAt;
      if (releaseAt <= now) {
        server.write(chunk);
        return;
      }
      held++;
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!server.destroyed) server.write(chunk);
      }, releaseAt - now);
      timers.add(timer);
    });
    server.on('data', (chunk: Buffer) => client.write(chunk));
    const end = () => {
      client.destroy();
      server.destroy();
      sockets.delete(client);
      sockets.delete(server);
    };
    client.on('close', end).on('error', end);
    server.on('close', end).on('error', end);
  });
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `${upstream.protocol}//127.0.0.1:${port}`,
    delay(next) {
      rule = next;
      if (next) held = 0;
    },
    held: () => held,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
