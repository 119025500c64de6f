/**
 * The CLI's HTTP(S) requests. HTTPS verifies the server: against a CA file (the server's own
 * self-signed certificate works as one), or against a pinned SHA-256 certificate fingerprint (checked
 * on the TLS handshake, before any request byte, so the token never reaches an unpinned server), or
 * against the system's CAs when neither is given.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { normalizeFingerprint } from '../adapters/tls/certs.js';

export interface TlsTrust {
  /** PEM file of the CA (or the server's self-signed certificate) to trust. */
  ca?: string;
  /** The server certificate's SHA-256 fingerprint (hex, colons optional). */
  fingerprint?: string;
}

export class HttpError extends Error {
  constructor(
    readonly code: 'unreachable' | 'untrusted_certificate' | 'usage',
    message: string,
  ) {
    super(message);
  }
}

export interface HttpReply {
  status: number;
  text: string;
}

const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
]);

export function httpCall(url: URL, method: string, headers: Record<string, string>, body: string | undefined, trust: TlsTrust = {}): Promise<HttpReply> {
  const https = url.protocol === 'https:';
  if (!https && url.protocol !== 'http:') return Promise.reject(new HttpError('usage', `the URL must start with https:// or http://, not ${url.protocol}`));
  let pin: string | undefined;
  if (trust.fingerprint !== undefined) {
    pin = normalizeFingerprint(trust.fingerprint);
    if (!pin)
      return Promise.reject(
        new HttpError('usage', 'the fingerprint must be the 64 hex digits of a SHA-256 (colons allowed), as the PORTWAY_TLS_CERT line prints it'),
      );
  }
  let ca: string | undefined;
  if (trust.ca !== undefined) {
    try {
      ca = readFileSync(trust.ca, 'utf8');
    } catch (e) {
      return Promise.reject(new HttpError('usage', `cannot read the CA file ${trust.ca}: ${(e as Error).message}`));
    }
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || (https ? 443 : 80));
  return new Promise((resolve, reject) => {
    const onReply = (res: import('node:http').IncomingMessage) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    };
    const common = {
      host,
      port,
      method,
      path: `${url.pathname}${url.search}`,
      headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
    };
    const req = !https
      ? httpRequest(common, onReply)
      : pin
        ? httpsRequest(
            {
              ...common,
              // The pinned certificate is the trust: chain and name are not checked, the fingerprint is,
              // on the handshake, before the request (and its token) is written.
              createConnection: (_o: unknown, done: (err: Error | null, s: Duplex) => void) => {
                const sock = tlsConnect({ host, port, servername: /^[\d.:]+$/.test(host) ? undefined : host, rejectUnauthorized: false });
                sock.once('secureConnect', () => {
                  const got = sock.getPeerCertificate().fingerprint256;
                  if (got === pin) return done(null, sock);
                  sock.destroy();
                  done(
                    new HttpError('untrusted_certificate', `the server's certificate fingerprint is ${got}, not the pinned ${pin}: refusing to talk to it`),
                    sock,
                  );
                });
                sock.once('error', (e) => done(e, sock));
                return undefined as unknown as Duplex;
              },
            } as import('node:https').RequestOptions,
            onReply,
          )
        : httpsRequest({ ...common, ...(ca ? { ca } : {}) }, onReply);
    req.setTimeout(60_000, () => req.destroy(new Error('no answer within 60 s')));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e instanceof HttpError) return reject(e);
      if (e.code && UNTRUSTED.has(e.code))
        return reject(
          new HttpError(
            'untrusted_certificate',
            `the server's certificate is not trusted (${e.code}): pass --ca FILE (the server's cert.pem) or --fingerprint SHA256 (its PORTWAY_TLS_CERT line)`,
          ),
        );
      reject(new HttpError('unreachable', `cannot reach Portway at ${url.origin}: ${e.message}`));
    });
    req.end(body);
  });
}
