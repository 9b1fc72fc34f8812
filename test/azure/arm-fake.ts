import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../lib/processes';

/**
 * A recorded-contract fake of Entra ID's token endpoint and Azure Resource Manager (Azure itself cannot
 * run here): an HTTPS server on loopback answering the requests the Azure SDK really sends
 * (`@azure/identity`'s client-credentials sign-in, `@azure/arm-compute`'s disks, images, virtual
 * machines and VM sizes, and GETs of a subscription, resource group and subnet), with the shapes,
 * status codes, error codes and long-running-operation headers of the ARM REST specs
 * (azure-rest-api-specs: Disks_CreateOrUpdate with createOption Import, Images_CreateOrUpdate from a
 * blob, VirtualMachines_CreateOrUpdate attaching an OS disk, VirtualMachines_Deallocate and
 * VirtualMachines_InstanceView, Azure-AsyncOperation polling).
 *
 * What it keeps: the resources created, so a test sees what a task left; the requests, so a test sees
 * what the SDK sent. What it cannot show: Azure copying the blob into a disk (it only checks the blob is
 * there with a VHD's size), a VM booting, quotas and RBAC beyond one service principal, ARM's timing.
 */
/** The object id of the service principal the fake's Entra ID signs in (its tokens' `oid`). */
export const SERVICE_PRINCIPAL_OBJECT_ID = '9c8d7e6f-1111-4c5e-9d7f-0a1b2c3d4e5f';

/** A self-signed certificate for 127.0.0.1 in `dir` (key.pem, cert.pem), and its PEM. */
export async function selfSignedCertificate(
  dir: string,
): Promise<{ key: string; cert: string; certificate: string }> {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]); // prettier-ignore
  return { key, cert, certificate: fs.readFileSync(cert, 'utf8') };
}

export interface ArmFakeOptions {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  subscriptionId: string;
  /** Resource groups by name, with their location. */
  resourceGroups: Record<string, string>;
  /** Locations and the VM sizes each offers. */
  locations: Record<string, string[]>;
  /** Resource ids of the subnets that exist. */
  subnets: string[];
  /** The size of the blob at a URL, or undefined when there is none (Azure reading the source blob). */
  blobSize: (url: string) => Promise<number | undefined>;
}

export interface ArmRequest {
  method: string;
  /** Path without the query. */
  path: string;
  apiVersion?: string;
  body?: Record<string, unknown>;
}

interface Operation {
  id: string;
  polls: number;
  /** Runs when the operation succeeds; a failed one leaves the resource in state Failed, as ARM does. */
  done: () => void;
  failure?: { code: string; message: string };
  resourceId: string;
}

const COMPUTE_TYPES: Record<string, string> = {
  disks: 'Microsoft.Compute/disks',
  images: 'Microsoft.Compute/images',
  virtualmachines: 'Microsoft.Compute/virtualMachines',
};

export class ArmFake {
  readonly requests: ArmRequest[] = [];
  /** Sign-ins Entra ID answers with a refusal: an expired secret (AADSTS7000222). */
  secretExpired = false;
  private readonly resources = new Map<string, Record<string, unknown>>();
  private readonly operations = new Map<string, Operation>();
  private readonly tokens = new Set<string>();
  private readonly failures = new Map<string, { code: string; message: string }>();
  /** VMs' power states by lower-case id (running, deallocating, deallocated), shown in their instance view. */
  private readonly powerStates = new Map<string, string>();

  private constructor(
    private readonly options: ArmFakeOptions,
    private readonly server: https.Server,
    private readonly dir: string,
    /** PEM of the server's self-signed certificate: the CA a connector trusts to reach it. */
    readonly certificate: string,
  ) {}

  static async start(options: ArmFakeOptions): Promise<ArmFake> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lamina-arm-fake-'));
    const { key, certificate } = await selfSignedCertificate(dir);
    const server = https.createServer({ key: fs.readFileSync(key), cert: certificate });
    const fake = new ArmFake(options, server, dir, certificate);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        fake
          .handle(
            req.method ?? 'GET',
            new URL(req.url ?? '/', fake.url),
            Buffer.concat(chunks).toString(),
            req,
          )
          .then(({ status, body, headers }) => {
            res.writeHead(status, { 'content-type': 'application/json', ...headers });
            res.end(body === undefined ? undefined : JSON.stringify(body));
          })
          .catch((err: unknown) => {
            res.writeHead(500, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ error: { code: 'InternalServerError', message: String(err) } }));
          });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  /** The base URL of both the sign-in and the Resource Manager endpoints. */
  get url(): string {
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The ids of the resources there now (disks, images, VMs and the network interfaces VMs made). */
  resourceIds(): string[] {
    return [...this.resources.values()].map((r) => r.id as string).sort();
  }

  resource(id: string): Record<string, unknown> | undefined {
    return this.resources.get(id.toLowerCase());
  }

  /** The next create of this type (`disks`, `images`, `virtualMachines`) ends Failed with this error. */
  failNextCreate(type: string, code: string, message: string): void {
    this.failures.set(type.toLowerCase(), { code, message });
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private async handle(
    method: string,
    url: URL,
    text: string,
    req: { headers: Record<string, string | string[] | undefined> },
  ): Promise<Reply> {
    const segments = url.pathname.split('/').filter(Boolean);
    // Entra ID: /{tenant}/v2.0/.well-known/openid-configuration and /{tenant}/oauth2/v2.0/token
    if (segments[0] !== 'subscriptions') return this.entra(method, segments, text);
    const body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    this.requests.push({
      method,
      path: url.pathname,
      apiVersion: url.searchParams.get('api-version') ?? undefined,
      body,
    });
    const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    if (!bearer || !this.tokens.has(bearer)) {
      return armError(401, 'InvalidAuthenticationToken', 'The access token is invalid.');
    }
    if (!url.searchParams.get('api-version')) {
      return armError(
        400,
        'MissingApiVersionParameter',
        'The api-version query parameter (?api-version=) is required for all requests.',
      );
    }
    const sub = segments[1];
    if (sub !== this.options.subscriptionId) {
      return armError(404, 'SubscriptionNotFound', `The subscription '${sub}' could not be found.`);
    }
    if (segments.length === 2 && method === 'GET') {
      return ok({
        id: `/subscriptions/${sub}`,
        subscriptionId: sub,
        tenantId: this.options.tenantId,
        displayName: 'Lamina test subscription',
        state: 'Enabled',
      });
    }
    const lower = segments.map((s) => s.toLowerCase());
    // /subscriptions/{s}/providers/Microsoft.Compute/locations/{loc}/(vmSizes|operations/{id})
    if (lower[2] === 'providers' && lower[3] === 'microsoft.compute' && lower[4] === 'locations') {
      const location = segments[5];
      if (lower[6] === 'operations') return this.operation(segments[7]);
      const sizes = this.options.locations[location];
      if (!sizes) {
        return armError(
          400,
          'NoRegisteredProviderFound',
          `No registered resource provider found for location '${location}' and API version '${url.searchParams.get('api-version')}' for type 'locations/vmSizes'. The supported locations are '${Object.keys(this.options.locations).join(', ')}'.`,
        );
      }
      return ok({
        value: sizes.map((name) => ({
          name,
          numberOfCores: 2,
          memoryInMB: 8192,
          maxDataDiskCount: 4,
          osDiskSizeInMB: 1047552,
          resourceDiskSizeInMB: 0,
        })),
      });
    }
    if (lower[2] !== 'resourcegroups') return armError(404, 'NotFound', `No route for ${url.pathname}`);
    const group = segments[3];
    const groupLocation = Object.entries(this.options.resourceGroups).find(
      ([name]) => name.toLowerCase() === group.toLowerCase(),
    )?.[1];
    if (!groupLocation)
      return armError(404, 'ResourceGroupNotFound', `Resource group '${group}' could not be found.`);
    if (segments.length === 4 && method === 'GET') {
      return ok({
        id: `/subscriptions/${sub}/resourceGroups/${group}`,
        name: group,
        location: groupLocation,
        properties: { provisioningState: 'Succeeded' },
      });
    }
    const id = `/subscriptions/${sub}/resourceGroups/${group}/providers/${segments.slice(5).join('/')}`;
    if (lower[5] === 'microsoft.network' && method === 'GET') {
      if (!this.options.subnets.some((s) => s.toLowerCase() === id.toLowerCase())) {
        return armError(404, 'NotFound', `Resource ${id} not found.`);
      }
      return ok({
        id,
        name: segments[segments.length - 1],
        properties: { addressPrefix: '10.0.0.0/24', provisioningState: 'Succeeded' },
      });
    }
    const type = COMPUTE_TYPES[lower[6]];
    // VirtualMachines_List: the group's VMs, one page.
    if (type === 'Microsoft.Compute/virtualMachines' && segments.length === 7 && method === 'GET')
      return ok({
        value: [...this.resources.values()].filter(
          (r) => r.type === type && (r.id as string).toLowerCase().startsWith(`${id.toLowerCase()}/`),
        ),
      });
    if (type === 'Microsoft.Compute/virtualMachines' && segments.length === 9)
      return this.vmAction(method, id.slice(0, id.lastIndexOf('/')), segments[7], group, lower[8]);
    if (lower[5] !== 'microsoft.compute' || !type || segments.length !== 8) {
      return armError(404, 'NotFound', `No route for ${url.pathname}`);
    }
    const name = segments[7];
    const existing = this.resources.get(id.toLowerCase());
    if (method === 'GET') {
      return existing
        ? ok(existing)
        : armError(
            404,
            'ResourceNotFound',
            `The Resource '${type}/${name}' under resource group '${group}' was not found.`,
          );
    }
    if (method === 'DELETE') return this.remove(id, type, name, existing);
    if (method === 'PUT') return this.create(id, type, name, group, body ?? {});
    return armError(405, 'MethodNotAllowed', `${method} is not allowed on ${type}`);
  }

  private async entra(method: string, segments: string[], text: string): Promise<Reply> {
    const tenant = segments[0];
    if (tenant !== this.options.tenantId) {
      return {
        status: 400,
        body: aadError(
          'invalid_tenant',
          90002,
          `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
        ),
      };
    }
    const base = `${this.url}/${tenant}`;
    if (method === 'GET' && segments.slice(1).join('/') === 'v2.0/.well-known/openid-configuration') {
      return ok({
        token_endpoint: `${base}/oauth2/v2.0/token`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        jwks_uri: `${base}/discovery/v2.0/keys`,
        issuer: `${base}/v2.0`,
        token_endpoint_auth_methods_supported: [
          'client_secret_post',
          'private_key_jwt',
          'client_secret_basic',
        ],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        tenant_region_scope: 'EU',
      });
    }
    if (method === 'POST' && segments.slice(1).join('/') === 'oauth2/v2.0/token') {
      const form = new URLSearchParams(text);
      if (form.get('client_id') !== this.options.clientId) {
        return {
          status: 400,
          body: aadError(
            'unauthorized_client',
            700016,
            `Application with identifier '${form.get('client_id')}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant.`,
          ),
        };
      }
      if (form.get('client_secret') !== this.options.clientSecret) {
        return {
          status: 401,
          body: aadError(
            'invalid_client',
            7000215,
            'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.',
          ),
        };
      }
      if (this.secretExpired) {
        return {
          status: 401,
          body: aadError(
            'invalid_client',
            7000222,
            `The provided client secret keys for app '${this.options.clientId}' are expired. Visit the Azure portal to create new keys for your app.`,
          ),
        };
      }
      if (form.get('grant_type') !== 'client_credentials' || !form.get('scope')?.endsWith('/.default')) {
        return {
          status: 400,
          body: aadError(
            'invalid_request',
            900144,
            "The request body must contain the following parameter: 'grant_type' or 'scope'.",
          ),
        };
      }
      const token = this.accessToken(form.get('scope')!.replace(/\/\.default$/, ''));
      this.tokens.add(token);
      return ok({ token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: token });
    }
    return { status: 404, body: aadError('invalid_request', 90010, `No route for ${segments.join('/')}`) };
  }

  /**
   * An access token shaped as Entra ID issues one to a service principal: a JWT whose claims name the
   * audience (the scope's resource: Resource Manager, or https://storage.azure.com), the issuer, the
   * tenant (`tid`) and the principal's object id (`oid`), which the Blob service derives a user
   * delegation key from (Azurite reads them; it checks no signature, nor does this fake sign).
   */
  private accessToken(audience: string): string {
    const now = Math.floor(Date.now() / 1000);
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const claims = {
      aud: audience,
      iss: `https://sts.windows.net/${this.options.tenantId}/`,
      iat: now,
      nbf: now,
      exp: now + 3599,
      appid: this.options.clientId,
      oid: SERVICE_PRINCIPAL_OBJECT_ID,
      sub: SERVICE_PRINCIPAL_OBJECT_ID,
      tid: this.options.tenantId,
      uti: randomUUID(),
      ver: '1.0',
    };
    return `${part({ typ: 'JWT', alg: 'RS256' })}.${part(claims)}.${randomBytes(32).toString('base64url')}`;
  }

  /** PUT of a Compute resource: 201 with Azure-AsyncOperation, as ARM answers a create it runs async. */
  private async create(
    id: string,
    type: string,
    name: string,
    group: string,
    body: Record<string, unknown>,
  ): Promise<Reply> {
    const location = body.location as string | undefined;
    if (!location || !this.options.locations[location]) {
      return armError(
        400,
        'LocationNotAvailableForResourceType',
        `The provided location '${location}' is not available for resource type '${type}'. List of available regions for the resource type is '${Object.keys(this.options.locations).join(',')}'.`,
      );
    }
    const props = (body.properties ?? {}) as Body;
    const invalid = await this.validate(type, location, props);
    if (invalid) return armError(400, invalid.code, invalid.message);
    const resource: Record<string, unknown> = {
      id,
      name,
      type,
      location,
      tags: body.tags,
      ...(body.sku ? { sku: body.sku } : {}),
      properties: { ...props, provisioningState: 'Creating' },
    };
    this.resources.set(id.toLowerCase(), resource);
    const failure = this.failures.get(COMPUTE_TYPES_KEY(type));
    this.failures.delete(COMPUTE_TYPES_KEY(type));
    const operation = this.startOperation(
      id,
      location,
      () => {
        (resource.properties as Record<string, unknown>).provisioningState = 'Succeeded';
        if (type === 'Microsoft.Compute/virtualMachines') {
          this.attachNetwork(resource, group);
          this.attachOsDiskFromImage(resource, group);
          // Azure starts a VM it creates; a PUT of one that exists (an update) leaves it as it was.
          if (!this.powerStates.has(id.toLowerCase())) this.powerStates.set(id.toLowerCase(), 'running');
        }
      },
      failure,
    );
    if (failure) (resource.properties as Record<string, unknown>).provisioningState = 'Failed';
    return { status: 201, body: resource, headers: operation };
  }

  private async validate(
    type: string,
    location: string,
    props: Body,
  ): Promise<{ code: string; message: string } | undefined> {
    if (type === 'Microsoft.Compute/disks') {
      const creation = props.creationData ?? {};
      if (creation.createOption !== 'Import') return undefined;
      if (!creation.storageAccountId)
        return {
          code: 'InvalidParameter',
          message: "Required parameter 'storageAccountId' is missing (null).",
        };
      return this.checkVhdBlob(creation.sourceUri);
    }
    if (type === 'Microsoft.Compute/images') return this.checkVhdBlob(props.storageProfile?.osDisk?.blobUri);
    const size = props.hardwareProfile?.vmSize;
    if (!this.options.locations[location].includes(size)) {
      return {
        code: 'SkuNotAvailable',
        message: `The requested VM size '${size}' is currently not available in location '${location}'.`,
      };
    }
    const imageId: string | undefined = props.storageProfile?.imageReference?.id;
    const fromImage = props.storageProfile?.osDisk?.createOption === 'FromImage';
    if (fromImage && (!imageId || !this.resources.has(imageId.toLowerCase()))) {
      return {
        code: 'InvalidParameter',
        message: `The Image '${imageId}' cannot be found in '${location}' region.`,
      };
    }
    if (fromImage && !props.osProfile?.adminUsername) {
      return { code: 'InvalidParameter', message: "Required parameter 'osProfile' is missing (null)." };
    }
    const diskId: string | undefined = props.storageProfile?.osDisk?.managedDisk?.id;
    if (!fromImage && (!diskId || !this.resources.has(diskId.toLowerCase()))) {
      return { code: 'NotFound', message: `Disk ${diskId} not found.` };
    }
    for (const nic of props.networkProfile?.networkInterfaceConfigurations ?? []) {
      for (const ip of nic.properties?.ipConfigurations ?? []) {
        const subnet: string | undefined = ip.properties?.subnet?.id;
        if (!subnet || !this.options.subnets.some((s) => s.toLowerCase() === subnet.toLowerCase())) {
          return {
            code: 'InvalidResourceReference',
            message: `Resource ${subnet} referenced by resource ${nic.name} was not found.`,
          };
        }
      }
    }
    return undefined;
  }

  /** Azure imports a page blob holding a fixed VHD: whole MiB of data plus the 512-byte footer. */
  private async checkVhdBlob(
    url: string | undefined,
  ): Promise<{ code: string; message: string } | undefined> {
    const size = url ? await this.options.blobSize(url) : undefined;
    if (size === undefined)
      return { code: 'InvalidParameter', message: `The source blob ${url} is not accessible.` };
    if ((size - 512) % 2 ** 20 !== 0) {
      return {
        code: 'InvalidParameter',
        message: `The specified cookie value in VHD footer indicates that disk '${url}' with blob size ${size} is not a supported VHD. Disk is expected to have cookie value 'conectix'.`,
      };
    }
    return undefined;
  }

  /**
   * A VM's actions (VirtualMachines_Deallocate, VirtualMachines_InstanceView in the Compute spec):
   * POST …/deallocate answers 202 with Azure-AsyncOperation and Location, the VM is `deallocating` until
   * the operation ends and `deallocated` after; GET …/instanceView lists the provisioning and power state
   * as `ProvisioningState/…` and `PowerState/…` statuses.
   */
  private vmAction(method: string, id: string, name: string, group: string, action: string): Reply {
    const key = id.toLowerCase();
    const vm = this.resources.get(key);
    if (!vm)
      return armError(
        404,
        'ResourceNotFound',
        `The Resource 'Microsoft.Compute/virtualMachines/${name}' under resource group '${group}' was not found.`,
      );
    if (method === 'POST' && action === 'deallocate') {
      this.powerStates.set(key, 'deallocating');
      const operation = this.startOperation(id, vm.location as string, () =>
        this.powerStates.set(key, 'deallocated'),
      );
      return { status: 202, headers: { ...operation, location: operation['azure-asyncoperation'] } };
    }
    if (method === 'GET' && action === 'instanceview') {
      const provisioning = String((vm.properties as Body).provisioningState);
      const power = this.powerStates.get(key);
      return ok({
        statuses: [
          {
            code: `ProvisioningState/${provisioning.toLowerCase()}`,
            level: 'Info',
            displayStatus: `Provisioning ${provisioning.toLowerCase()}`,
          },
          ...(power ? [{ code: `PowerState/${power}`, level: 'Info', displayStatus: `VM ${power}` }] : []),
        ],
      });
    }
    return armError(404, 'NotFound', `No route for ${method} ${id}/${action}`);
  }

  /**
   * The managed OS disk a VM made from an image gets (`<vm>_OsDisk_1_<id>`), removed with it when its
   * osDisk deleteOption is Delete (a Compositing Engine's); with Detach it would stay.
   */
  private attachOsDiskFromImage(vm: Record<string, unknown>, group: string): void {
    const osDisk = (vm.properties as Body).storageProfile?.osDisk;
    if (osDisk?.createOption !== 'FromImage') return;
    const name = `${vm.name as string}_OsDisk_1_${randomUUID().replace(/-/g, '')}`;
    const id = `/subscriptions/${this.options.subscriptionId}/resourceGroups/${group}/providers/Microsoft.Compute/disks/${name}`;
    this.resources.set(id.toLowerCase(), {
      id,
      name,
      type: 'Microsoft.Compute/disks',
      location: vm.location,
      managedBy: vm.id,
      ...(osDisk.deleteOption === 'Delete' ? { ownedBy: vm.id } : {}),
    });
  }

  /** The network interface a VM makes from its configuration, removed with it (deleteOption Delete). */
  private attachNetwork(vm: Record<string, unknown>, group: string): void {
    const props = vm.properties as Body;
    for (const nic of props.networkProfile?.networkInterfaceConfigurations ?? []) {
      const id = `/subscriptions/${this.options.subscriptionId}/resourceGroups/${group}/providers/Microsoft.Network/networkInterfaces/${nic.name}`;
      this.resources.set(id.toLowerCase(), {
        id,
        name: nic.name,
        type: 'Microsoft.Network/networkInterfaces',
        ownedBy: vm.id,
      });
    }
  }

  private async remove(
    id: string,
    type: string,
    name: string,
    existing: Record<string, unknown> | undefined,
  ): Promise<Reply> {
    if (!existing) return { status: 204 };
    if (type === 'Microsoft.Compute/disks') {
      const holder = [...this.resources.values()].find(
        (r) =>
          (
            (r.properties as Body)?.storageProfile?.osDisk?.managedDisk?.id as string | undefined
          )?.toLowerCase() === id.toLowerCase(),
      );
      if (holder) return armError(409, 'OperationNotAllowed', `Disk ${name} is attached to VM ${holder.id}.`);
    }
    const location = existing.location as string;
    const operation = this.startOperation(id, location, () => {
      this.resources.delete(id.toLowerCase());
      this.powerStates.delete(id.toLowerCase());
      for (const [key, r] of this.resources) if (r.ownedBy === existing.id) this.resources.delete(key);
    });
    return { status: 202, headers: operation };
  }

  private startOperation(
    resourceId: string,
    location: string,
    done: () => void,
    failure?: { code: string; message: string },
  ): Record<string, string> {
    const id = randomUUID();
    this.operations.set(id, { id, polls: 0, done, failure, resourceId });
    return {
      'azure-asyncoperation': `${this.url}/subscriptions/${this.options.subscriptionId}/providers/Microsoft.Compute/locations/${location}/operations/${id}?api-version=2026-04-01`,
      'retry-after': '0',
    };
  }

  /** Operation status: InProgress on the first poll, then the outcome (the SDK polls until it is final). */
  private async operation(id: string): Promise<Reply> {
    const op = this.operations.get(id);
    if (!op) return armError(404, 'NotFound', `Operation ${id} was not found.`);
    op.polls += 1;
    const startTime = new Date().toISOString();
    if (op.polls === 1)
      return {
        status: 200,
        body: { name: id, status: 'InProgress', startTime },
        headers: { 'retry-after': '0' },
      };
    if (op.failure)
      return ok({ name: id, status: 'Failed', startTime, endTime: startTime, error: op.failure });
    if (op.polls === 2) op.done();
    return ok({ name: id, status: 'Succeeded', startTime, endTime: startTime });
  }
}

/** A request body as the SDK sent it, read field by field as ARM reads it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = Record<string, any>;

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const COMPUTE_TYPES_KEY = (type: string) => type.split('/')[1].toLowerCase();

function ok(body: unknown): Reply {
  return { status: 200, body };
}

function armError(status: number, code: string, message: string): Reply {
  return { status, body: { error: { code, message } } };
}

function aadError(error: string, code: number, text: string) {
  return {
    error,
    error_description: `AADSTS${code}: ${text} Trace ID: ${randomUUID()} Correlation ID: ${randomUUID()} Timestamp: ${new Date().toISOString()}`,
    error_codes: [code],
    timestamp: new Date().toISOString(),
    trace_id: randomUUID(),
    correlation_id: randomUUID(),
  };
}
