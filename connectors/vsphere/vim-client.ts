import https from 'node:https';
import { createTrustingAgent, type TlsTrust } from './tls-trust';
import { describeMoRef, moRefOf, vimFaultFrom, VimFault, type MoRef } from './vim-fault';
import { fragment, parseXml, xml, type RawXml, type XmlElement } from './xml';

/**
 * A vim25 SOAP session with vCenter (or ESXi): one POST per method to /sdk, the session carried in the
 * `vmware_soap_session` cookie. The session is kept alive with a cheap call while idle, and a call that
 * meets NotAuthenticated (expired session, vCenter restarted) logs in again once and is retried.
 */
export interface VimConnection {
  /** `https://vcenter.example.com/sdk`, or just the host name. */
  server: string;
  username: string;
  password: string;
  trust: TlsTrust;
  /** How often an idle session is touched; vCenter's default idle timeout is 30 minutes. */
  keepAliveMs?: number;
  /** Per-request timeout; a hung vCenter fails the call instead of hanging the activity. */
  requestTimeoutMs?: number;
}

export interface ServiceContent {
  rootFolder: MoRef;
  propertyCollector: MoRef;
  viewManager: MoRef;
  sessionManager: MoRef;
  fileManager: MoRef;
  virtualDiskManager: MoRef;
  searchIndex: MoRef;
  /** e.g. "VMware vCenter Server 6.5.0 build-5973321" */
  fullName: string;
  apiVersion: string;
}

/** The network or HTTP layer failed; vCenter gave no SOAP answer. */
export class VimConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VimConnectionError';
  }
}

const SERVICE_INSTANCE: MoRef = { type: 'ServiceInstance', value: 'ServiceInstance' };
const SOAP_ACTION = 'urn:vim25/6.5';

export function sdkUrl(server: string): URL {
  const url = new URL(/^https?:\/\//.test(server) ? server : `https://${server}`);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/sdk';
  return url;
}

export class VimClient {
  readonly agent: https.Agent;
  readonly sdk: URL;
  /** `vmware_soap_session=…`, also accepted by the datastore /folder endpoint. */
  sessionCookie = '';
  /** The logged-in session's key (UserSession.key): what TerminateSession takes, no credential itself. */
  sessionKey = '';
  serviceContent!: ServiceContent;
  /** In a #private field so that logging or inspecting the client never shows it. */
  readonly #password: string;
  private readonly username: string;
  private readonly requestTimeoutMs: number;
  private relogin?: Promise<void>;
  private keepAlive?: NodeJS.Timeout;

  private constructor(connection: VimConnection) {
    this.#password = connection.password;
    this.username = connection.username;
    this.requestTimeoutMs = connection.requestTimeoutMs ?? 120_000;
    this.agent = createTrustingAgent(connection.trust);
    this.sdk = sdkUrl(connection.server);
  }

  /** Fetches the service content and logs in; the error names the server and user, never the password. */
  static async connect(connection: VimConnection): Promise<VimClient> {
    const client = new VimClient(connection);
    try {
      client.serviceContent = await client.retrieveServiceContent();
      await client.login();
    } catch (err) {
      client.agent.destroy();
      throw err;
    }
    client.startKeepAlive(connection.keepAliveMs);
    return client;
  }

  /**
   * A client on a session another process logged in (a Compositing Engine's, handed to it at launch),
   * kept alive while it runs. It has no password: a lost session fails naming that instead of logging in.
   */
  static async resume(
    connection: Omit<VimConnection, 'username' | 'password'> & { sessionCookie: string },
  ): Promise<VimClient> {
    const client = new VimClient({ ...connection, username: '', password: '' });
    client.sessionCookie = connection.sessionCookie;
    try {
      client.serviceContent = await client.retrieveServiceContent();
    } catch (err) {
      client.agent.destroy();
      throw err;
    }
    client.startKeepAlive(connection.keepAliveMs);
    return client;
  }

  /** Lets go of the session without logging out: whoever it was handed to (resume) goes on with it. */
  release(): void {
    clearInterval(this.keepAlive);
    this.agent.destroy();
  }

  private startKeepAlive(intervalMs = 10 * 60_000): void {
    this.keepAlive = setInterval(
      () => void this.invoke('CurrentTime', SERVICE_INSTANCE).catch(() => undefined),
      intervalMs,
    );
    this.keepAlive.unref();
  }

  get server(): string {
    return this.sdk.host;
  }

  /**
   * Calls a vim25 method on `target` with its arguments (already in WSDL order) and returns the
   * `<MethodResponse>` element. Faults become VimFault naming the method and object.
   */
  async invoke(method: string, target: MoRef, args?: RawXml, signal?: AbortSignal): Promise<XmlElement> {
    try {
      return await this.post(method, target, args, signal);
    } catch (err) {
      if (!(err instanceof VimFault) || err.fault !== 'NotAuthenticated' || method === 'Login') throw err;
      await this.renewSession();
      return this.post(method, target, args, signal);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.keepAlive);
    try {
      await this.post('Logout', this.serviceContent.sessionManager);
    } catch {
      // Logging out of a session vCenter already dropped is not an error worth reporting.
    } finally {
      this.agent.destroy();
    }
  }

  private async retrieveServiceContent(): Promise<ServiceContent> {
    const response = await this.post('RetrieveServiceContent', SERVICE_INSTANCE);
    const content = response.child('returnval')!;
    const ref = (name: string) => {
      const element = content.child(name);
      if (!element) throw new VimConnectionError(`${this.server} is not a vCenter or ESXi: no ${name}`);
      return moRefOf(element);
    };
    return {
      rootFolder: ref('rootFolder'),
      propertyCollector: ref('propertyCollector'),
      viewManager: ref('viewManager'),
      sessionManager: ref('sessionManager'),
      fileManager: ref('fileManager'),
      virtualDiskManager: ref('virtualDiskManager'),
      searchIndex: ref('searchIndex'),
      fullName: content.at('about', 'fullName')?.text ?? 'unknown',
      apiVersion: content.at('about', 'apiVersion')?.text ?? 'unknown',
    };
  }

  private async login(): Promise<void> {
    try {
      const response = await this.post(
        'Login',
        this.serviceContent.sessionManager,
        fragment(xml('userName', this.username), xml('password', this.#password)),
      );
      this.sessionKey = response.at('returnval', 'key')?.text ?? '';
    } catch (err) {
      if (err instanceof VimFault) {
        throw new VimFault(
          err.fault,
          err.faultMessage,
          `login to ${this.server} as '${this.username}'`,
          err.subject,
        );
      }
      throw err;
    }
  }

  /**
   * Logs in again after the session was lost (expired, or vCenter restarted); concurrent callers that
   * all met the lost session share one new login.
   */
  renewSession(): Promise<void> {
    // A fresh login, without the lost session's cookie: vCenter refuses Login on a session it still knows.
    this.relogin ??= (async () => {
      if (!this.#password)
        throw new VimConnectionError(
          `the vCenter session this process was handed has ended (expired or logged out) on ${this.server}`,
        );
      this.sessionCookie = '';
      await this.login();
    })().finally(() => (this.relogin = undefined));
    return this.relogin;
  }

  private async post(
    method: string,
    target: MoRef,
    args?: RawXml,
    signal?: AbortSignal,
  ): Promise<XmlElement> {
    const body =
      '<?xml version="1.0" encoding="UTF-8"?>' +
      '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ' +
      'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' +
      `<soapenv:Body><${method} xmlns="urn:vim25">` +
      xml('_this', target.value, { type: target.type }).xml +
      (args?.xml ?? '') +
      `</${method}></soapenv:Body></soapenv:Envelope>`;
    const operation = `${method} on ${describeMoRef(target)}`;
    const { status, text } = await this.send(body, operation, signal);
    let envelope: XmlElement;
    try {
      envelope = parseXml(text);
    } catch {
      throw new VimConnectionError(`${operation}: ${this.server} answered HTTP ${status} without SOAP`);
    }
    const soapBody = envelope.child('Body');
    const fault = soapBody?.child('Fault');
    if (fault) {
      throw vimFaultFrom(fault.child('detail')?.children[0], fault.textOf('faultstring') ?? '', operation);
    }
    const response = soapBody?.child(`${method}Response`);
    if (!response)
      throw new VimConnectionError(`${operation}: ${this.server} answered HTTP ${status} without a result`);
    return response;
  }

  private send(
    body: string,
    operation: string,
    signal?: AbortSignal,
  ): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const request = https.request(
        this.sdk,
        {
          method: 'POST',
          agent: this.agent,
          signal,
          timeout: this.requestTimeoutMs,
          headers: {
            'content-type': 'text/xml; charset=utf-8',
            soapaction: SOAP_ACTION,
            ...(this.sessionCookie ? { cookie: this.sessionCookie } : {}),
          },
        },
        (response) => {
          const cookie = response.headers['set-cookie']?.find((c) => c.startsWith('vmware_soap_session='));
          if (cookie) this.sessionCookie = cookie.split(';')[0];
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
        },
      );
      request.on('timeout', () => request.destroy(new Error('no answer within the request timeout')));
      request.on('error', (err) => {
        if (err.name === 'AbortError' || err.name === 'CertificateRejected') reject(err);
        else
          reject(
            new VimConnectionError(`${operation}: cannot reach vCenter at ${this.server}: ${err.message}`),
          );
      });
      request.end(body);
    });
  }
}
