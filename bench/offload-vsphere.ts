import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import * as path from 'node:path';
import { uploadSparseImage } from '../connectors/vsphere/ce-host/sparse-image-upload';
import { VsphereConnector } from '../connectors/vsphere/vsphere-connector';
import { startVcsim } from '../runtime/vcsim';

/**
 * The vSphere part of `npm run bench:offload` (issue 17 §5): the bytes an offloaded publish sends to
 * vCenter, against the image's allocated bytes (target ≤ 1.1). The bench template is composed as the
 * engine composes it (a monolithicSparse VMDK of BENCH_IMAGE_GIB GiB) and stored the engine's way
 * (sparse-image-upload.ts: the sparse file and a descriptor, with a session of the engine's own) into
 * vcsim, through a loopback proxy that counts every byte towards vCenter: the logins and SOAP calls, TLS
 * and HTTP included. Allocated bytes are what `qemu-img map` reports as data. The upload a publish made
 * before (disk-upload.ts: converted to raw, sent whole) sends the virtual size; it is shown, not run.
 */

/** Relays loopback TCP to `port`, counting the bytes sent towards it. */
async function countingProxy(port: number): Promise<{ port: number; sent: () => number; stop: () => void }> {
  let sent = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => (sent += chunk.length));
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    sent: () => sent,
    stop: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

function dataBytes(image: string): number {
  const extents = JSON.parse(execFileSync('qemu-img', ['map', '--output=json', image]).toString()) as {
    length: number;
    data: boolean;
  }[];
  return extents.filter((e) => e.data).reduce((sum, e) => sum + e.length, 0);
}

/** Runs the section in `dir` with the bench template's layers; answers its report lines. */
export async function benchVsphereOffloadBytes(
  dir: string,
  cli: string,
  /** The compose bench's template (offload-compose.ts): its OS and app layer files. */
  template: { os: string; app: string },
  imageGib: number,
): Promise<string[]> {
  await fs.mkdir(dir, { recursive: true });
  const image = path.join(dir, 'image.vmdk');
  execFileSync(process.execPath, [
    cli,
    'compose',
    '--os',
    template.os,
    '--app',
    template.app,
    '--size-gib',
    String(imageGib),
    '--firmware',
    'uefi',
    '--format',
    'vmdk',
    '--out',
    image,
  ]);
  const allocated = dataBytes(image);
  const sim = await startVcsim();
  const proxy = await countingProxy(sim.port);
  const connector = new VsphereConnector(
    {
      vcenter: `127.0.0.1:${proxy.port}`,
      user: sim.username,
      allowUntrustedCertificate: true,
      datacenter: 'DC0',
      host: 'DC0_C0',
      datastore: 'LocalDS_0',
      network: 'VM Network',
    },
    { password: sim.password },
  );
  try {
    const session = await connector.session();
    const before = proxy.sent();
    const { cookie } = await connector.loginForEngine();
    await uploadSparseImage(
      {
        kind: 'datastore',
        connectorId: 'bench',
        vcenter: `127.0.0.1:${proxy.port}`,
        trust: { allowUntrustedCertificate: true },
        datacenter: { name: session.datacenter.name, ref: session.datacenter.ref.value },
        datastore: 'LocalDS_0',
        path: 'lamina/disks/bench.vmdk',
      },
      cookie,
      image,
    );
    const sent = proxy.sent() - before;
    const ratio = sent / allocated;
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    return [
      `vSphere offloaded publish, bytes sent to vCenter (${imageGib} GiB image, the compose template above):`,
      '',
      '| | MiB | ratio to allocated |',
      '|---|---|---|',
      `| image's allocated bytes (qemu-img map, data) | ${mib(allocated)} | 1.00 |`,
      `| sent by the engine (login, SOAP, sparse VMDK + descriptor, TLS) | ${mib(sent)} | ${ratio.toFixed(3)} (target ≤ 1.10: ${ratio <= 1.1 ? 'met' : 'NOT met'}) |`,
      `| sent by the earlier upload (raw, whole virtual size; not run) | ${mib(imageGib * 2 ** 30)} | ${((imageGib * 2 ** 30) / allocated).toFixed(1)} |`,
      '',
    ];
  } finally {
    await connector.close();
    proxy.stop();
    await sim.stop();
  }
}
