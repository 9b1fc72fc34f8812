import net from 'node:net';
import { isLoopbackAddress } from './engine-environment';

/**
 * Temporal's frontend at LAMINA_CE_ADDRESS for Compositing Engines in a network namespace
 * (LAMINA_CE_NETNS): inside the namespace, loopback is the namespace's own, so a Temporal that listens
 * on the appliance's loopback only (the embedded dev server) is out of reach. The appliance worker
 * listens at the engines' address on Temporal's port and passes each connection to it; the engine
 * environment already names that address (engine-environment.ts). Nothing else is forwarded.
 */
export interface EngineTemporalGateway {
  close(): Promise<void>;
}

/** Opens the gateway when Temporal is on loopback; a Temporal engines reach themselves needs none. */
export async function openEngineTemporalGateway(
  engineAddress: string,
  temporalAddress: string,
): Promise<EngineTemporalGateway | undefined> {
  const split = temporalAddress.lastIndexOf(':');
  const [host, port] = [temporalAddress.slice(0, split), Number(temporalAddress.slice(split + 1))];
  if (!isLoopbackAddress(host)) return undefined;
  const connections = new Set<net.Socket>();
  const server = net.createServer((engine) => {
    const temporal = net.connect(port, host.replace(/^\[(.*)\]$/, '$1'));
    for (const socket of [engine, temporal]) {
      connections.add(socket);
      socket.once('close', () => connections.delete(socket));
      // Either side failing ends the pair: the engine's client reconnects.
      socket.on('error', () => {
        engine.destroy();
        temporal.destroy();
      });
    }
    engine.pipe(temporal).pipe(engine);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `cannot give engines in LAMINA_CE_NETNS Temporal at ${engineAddress}:${port}: ${err.code ?? err.message}`,
        ),
      ),
    );
    server.listen(port, engineAddress, resolve);
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of connections) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
