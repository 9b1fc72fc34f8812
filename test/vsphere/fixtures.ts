import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../lib/processes';
import type { ApiClient } from '../api-client';
import type { Vcsim } from '../../runtime/vcsim';
import { vsphereConnectorSettings, type VsphereConnectorSettings } from '../../connectors/vsphere/settings';
import { VsphereConnector, type VsphereConnectorOptions } from '../../connectors/vsphere/vsphere-connector';

/** Settings that pass Test against the small inventory runtime/vcsim.ts starts with `folder: 1`. */
export function vcsimSettings(
  sim: Vcsim,
  overrides: Partial<VsphereConnectorSettings> = {},
): VsphereConnectorSettings {
  return vsphereConnectorSettings.parse({
    vcenter: `127.0.0.1:${sim.port}`,
    user: sim.username,
    allowUntrustedCertificate: true,
    datacenter: 'DC0',
    host: 'DC0_C0',
    datastore: 'LocalDS_0',
    network: 'VM Network',
    vmFolder: 'F0',
    ...overrides,
  });
}

/** A connector on vcsim with its password; `options` as the stored configuration would give them. */
export function vcsimConnector(
  sim: Vcsim,
  overrides: Partial<VsphereConnectorSettings> = {},
  options: VsphereConnectorOptions & { password?: string } = {},
): VsphereConnector {
  const { password = sim.password, ...connectorOptions } = options;
  return new VsphereConnector(vcsimSettings(sim, overrides), { password }, connectorOptions);
}

export function scratchDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `lamina-${prefix}-`));
}

/**
 * A small streamOptimized VMDK (the format the compositor writes) with distinct data at the start,
 * across extent boundaries and at the end, and zeros between, so a misplaced or missing byte shows.
 */
export async function makeTestVmdk(dir: string, mib: number): Promise<string> {
  const raw = path.join(dir, 'source.raw');
  const fd = fs.openSync(raw, 'w');
  fs.ftruncateSync(fd, mib * 1024 * 1024);
  for (const offset of [0, 1024 * 1024 - 100, 1024 * 1024 * 2 + 4096, mib * 1024 * 1024 - 4096]) {
    const data = Buffer.alloc(4096);
    for (let i = 0; i < data.length; i++) data[i] = (offset + i * 7) % 251;
    fs.writeSync(fd, data, 0, data.length, offset);
  }
  fs.closeSync(fd);
  const vmdk = path.join(dir, 'source.vmdk');
  await run('qemu-img', ['convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, vmdk]);
  fs.rmSync(raw);
  return vmdk;
}

/** `qemu-img compare`: resolves when both images hold the same guest-visible bytes, rejects otherwise. */
export function qemuCompare(a: string, b: string): Promise<string> {
  return run('qemu-img', ['compare', a, b]);
}

/**
 * A TCP proxy in front of vcsim that can drop connections: it stands in for the network failures
 * vcsim never has. TLS passes through untouched, so the client still sees vcsim's certificate.
 */
export class CuttingProxy {
  /** Bytes client → server and server → client over all connections. */
  upstreamBytes = 0;
  downstreamBytes = 0;
  cuts = 0;
  private cutPlan: { direction: 'up' | 'down'; afterBytes: number; times: number } | undefined;
  private upstreamRate = Infinity;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly target: number) {
    this.server = net.createServer((client) => this.relay(client));
  }

  static async start(targetPort: number): Promise<CuttingProxy> {
    const proxy = new CuttingProxy(targetPort);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Client → server bytes pass at most at this rate from now on (a slow link, to act mid-transfer). */
  limitUpstream(bytesPerSecond: number): void {
    this.upstreamRate = bytesPerSecond;
  }

  /** The next `times` connections that carry more than `afterBytes` in `direction` are cut there. */
  cutAfter(direction: 'up' | 'down', afterBytes: number, times = 1): void {
    this.cutPlan = { direction, afterBytes, times };
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private relay(client: net.Socket): void {
    const upstream = net.connect(this.target, '127.0.0.1');
    this.sockets.add(client).add(upstream);
    let up = 0;
    let down = 0;
    const cutIfPlanned = (direction: 'up' | 'down', bytes: number) => {
      const plan = this.cutPlan;
      if (!plan || plan.direction !== direction || bytes <= plan.afterBytes) return false;
      plan.times -= 1;
      if (plan.times === 0) this.cutPlan = undefined;
      this.cuts += 1;
      client.destroy();
      upstream.destroy();
      return true;
    };
    client.on('data', (chunk: Buffer) => {
      up += chunk.length;
      this.upstreamBytes += chunk.length;
      if (cutIfPlanned('up', up)) return;
      upstream.write(chunk);
      if (this.upstreamRate < Infinity) {
        client.pause();
        setTimeout(() => client.resume(), (chunk.length / this.upstreamRate) * 1000);
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      down += chunk.length;
      this.downstreamBytes += chunk.length;
      if (!cutIfPlanned('down', down)) client.write(chunk);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  }
}

/**
 * An HTTPS proxy in front of vcsim that checks the datastore file service's session cookie as vCenter
 * does (vcsim's /folder accepts any request). `expireSessions()` invalidates every cookie issued so far
 * for /folder requests, which then get 401, as after vCenter's idle timeout or a restart.
 */
export class SessionCheckingProxy {
  folderRejections = 0;
  logins = 0;
  private readonly valid = new Set<string>();

  private constructor(
    private readonly server: https.Server,
    private readonly target: number,
  ) {
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.forward(req, res));
  }

  /** Serves a throw-away self-signed certificate made with openssl in `dir`. */
  static async start(targetPort: number, dir: string): Promise<SessionCheckingProxy> {
    const key = path.join(dir, 'proxy-key.pem');
    const cert = path.join(dir, 'proxy-cert.pem');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
    ]);
    const server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) });
    const proxy = new SessionCheckingProxy(server, targetPort);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  expireSessions(): void {
    this.valid.clear();
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const cookie = /vmware_soap_session=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (req.url?.startsWith('/folder/') && !(cookie && this.valid.has(cookie))) {
      this.folderRejections += 1;
      req.resume();
      res.writeHead(401).end();
      return;
    }
    const upstream = https.request(
      {
        host: '127.0.0.1',
        port: this.target,
        method: req.method,
        path: req.url,
        headers: req.headers,
        rejectUnauthorized: false,
      },
      (answer) => {
        const issued = answer.headers['set-cookie']?.map((c) => /vmware_soap_session=([^;]+)/.exec(c)?.[1]);
        for (const value of issued ?? []) {
          if (value) {
            this.valid.add(value);
            this.logins += 1;
          }
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  }
}

/** A vSphere connector configuration on vcsim created through the API (password sealed in Postgres). */
export async function vcsimConnectorThroughApi(
  api: ApiClient,
  sim: Vcsim,
  overrides: Partial<VsphereConnectorSettings> = {},
): Promise<string> {
  const created = await api.post('/api/connectors', {
    type: 'vsphere',
    name: `vcsim ${sim.port} ${randomBytes(3).toString('hex')}`,
    settings: vcsimSettings(sim, overrides),
    secrets: { password: sim.password },
  });
  if (created.status !== 201) throw new Error(`creating vSphere connector: ${created.text}`);
  return created.body.id as string;
}

/** Every file below a datastore folder of vcsim (relative paths), to assert what a task left. */
export function datastoreFiles(sim: Vcsim, datastore = 'LocalDS_0'): string[] {
  const dir = sim.datastoreDir(datastore);
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => fs.statSync(path.join(dir, f)).isFile())
    .sort();
}
