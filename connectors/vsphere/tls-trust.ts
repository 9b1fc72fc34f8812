import type { Duplex } from 'node:stream';
import https from 'node:https';
import tls from 'node:tls';

/**
 * How Lamina decides to trust a vCenter's certificate. Verified against the system CAs by default; a
 * self-signed vCenter is accepted either by pinning its certificate thumbprint (SHA-1 as vSphere shows
 * it, or SHA-256) or, knowingly, by `allowUntrustedCertificate`.
 */
export interface TlsTrust {
  allowUntrustedCertificate?: boolean;
  /** Hex bytes, with or without colons, any case: `AB:CD:…` (20 bytes SHA-1 or 32 bytes SHA-256). */
  thumbprint?: string;
}

export class CertificateRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertificateRejected';
  }
}

/** `AB:CD:…` upper case, the form vSphere's own UI shows; undefined when the text is not 20 or 32 hex bytes. */
export function normalizeThumbprint(text: string): string | undefined {
  const hex = text.replace(/[\s:]/g, '').toUpperCase();
  if (!/^[0-9A-F]+$/.test(hex) || (hex.length !== 40 && hex.length !== 64)) return undefined;
  return hex.match(/../g)!.join(':');
}

/**
 * An HTTPS agent (keep-alive, shared by SOAP and datastore transfers) that enforces the trust policy
 * before any request byte is written: a pinned thumbprint is compared as soon as the handshake ends and
 * the socket is only handed to the request when it matches, so a password never reaches a wrong server.
 */
export function createTrustingAgent(trust: TlsTrust): https.Agent {
  if (trust.thumbprint !== undefined && normalizeThumbprint(trust.thumbprint) === undefined) {
    throw new CertificateRejected(
      `certificate thumbprint '${trust.thumbprint}' is not a SHA-1 (20 bytes) or SHA-256 (32 bytes) hex value`,
    );
  }
  return new TrustingAgent(
    trust.allowUntrustedCertificate === true,
    trust.thumbprint ? normalizeThumbprint(trust.thumbprint) : undefined,
  );
}

class TrustingAgent extends https.Agent {
  constructor(
    private readonly allowUntrusted: boolean,
    private readonly pinned: string | undefined,
  ) {
    super({ keepAlive: true });
  }

  createConnection(
    options: https.RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const host = options.host ?? '';
    // With a pin the chain is not verified: the fingerprint comparison replaces it.
    const socket = tls.connect({
      ...(options as tls.ConnectionOptions),
      rejectUnauthorized: !this.pinned && !this.allowUntrusted,
    });
    let settled = false;
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      if (err) socket.destroy();
      callback?.(err, socket);
    };
    socket.once('secureConnect', () => settle(this.pinned ? this.checkPin(socket, host, this.pinned) : null));
    socket.once('error', (err) => settle(explainTlsError(err, host)));
    return undefined;
  }

  private checkPin(socket: tls.TLSSocket, host: string, pinned: string): Error | null {
    const cert = socket.getPeerCertificate();
    const sha1Length = 59; // 20 bytes as AB:CD:… text
    const actual = pinned.length === sha1Length ? cert.fingerprint : cert.fingerprint256;
    if (actual?.toUpperCase() === pinned) return null;
    return new CertificateRejected(
      `certificate of ${host} has thumbprint ${actual}, not the pinned ${pinned}; refusing to send credentials`,
    );
  }
}

/** Turns OpenSSL's codes into advice naming the two settings that accept a self-signed vCenter. */
function explainTlsError(err: NodeJS.ErrnoException, host: string): Error {
  const untrusted = [
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'CERT_HAS_EXPIRED',
    'ERR_TLS_CERT_ALTNAME_INVALID',
  ];
  if (err.code && untrusted.includes(err.code)) {
    return new CertificateRejected(
      `certificate of ${host} is not trusted (${err.code}); pin its thumbprint or set ` +
        `allowUntrustedCertificate if this vCenter uses a self-signed certificate`,
    );
  }
  return err;
}
