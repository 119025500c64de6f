/**
 * TLS certificates of the API/UI: the admin's own (cert + key files) or a self-signed one made at the
 * first start with openssl (execFile, argument array) and kept in the state dir, and the fingerprints a
 * client pins (SHA-256 of the certificate, as `openssl x509 -fingerprint -sha256` prints it) or a browser
 * trusts (SHA-256 of the public key, base64: chromium's --ignore-certificate-errors-spki-list).
 */
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { run } from '../exec.js';

export interface TlsMaterial {
  cert: string;
  key: string;
  certFile: string;
  /** SHA-256 of the DER certificate, upper-case hex pairs joined by ':'. */
  fingerprint256: string;
  /** SHA-256 of the certificate's public key (SPKI, DER), base64. */
  spkiSha256: string;
  /** Made at this start (self-signed). */
  generated: boolean;
}

export class TlsError extends Error {}

/** The fingerprints of a PEM certificate. */
export function fingerprints(certPem: string): { fingerprint256: string; spkiSha256: string } {
  const x = new X509Certificate(certPem);
  const spki = x.publicKey.export({ type: 'spki', format: 'der' });
  return { fingerprint256: x.fingerprint256, spkiSha256: createHash('sha256').update(spki).digest('base64') };
}

/** "AB:CD:..." or "abcd..." (with or without "sha256:"/"sha256=") -> upper-case colon form; undefined when not 32 bytes of hex. */
export function normalizeFingerprint(s: string): string | undefined {
  const hex = s
    .replace(/^sha256[:=]/i, '')
    .replace(/:/g, '')
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) return undefined;
  return (hex.match(/../g) as string[]).join(':');
}

/** The names the self-signed certificate is valid for: the listen address, loopback, this host. */
function altNames(listenHost: string, extra: string[]): string {
  const names = new Set(['DNS:localhost', 'IP:127.0.0.1', 'IP:::1']);
  const host = hostname();
  if (/^[A-Za-z0-9.-]{1,253}$/.test(host)) names.add(`DNS:${host}`);
  for (const h of [listenHost, ...extra]) {
    if (!h || h === '0.0.0.0' || h === '::') continue;
    if (isIP(h)) names.add(`IP:${h}`);
    else if (/^[A-Za-z0-9.-]{1,253}$/.test(h)) names.add(`DNS:${h}`);
  }
  return [...names].join(',');
}

async function readPair(certFile: string, keyFile: string): Promise<{ cert: string; key: string }> {
  let cert: string;
  let key: string;
  try {
    cert = await readFile(certFile, 'utf8');
    key = await readFile(keyFile, 'utf8');
  } catch (e) {
    throw new TlsError(`cannot read the TLS certificate or key: ${(e as Error).message}`);
  }
  try {
    const x = new X509Certificate(cert);
    if (!x.checkPrivateKey(createPrivateKey(key))) throw new TlsError(`the TLS key ${keyFile} does not belong to the certificate ${certFile}`);
  } catch (e) {
    if (e instanceof TlsError) throw e;
    throw new TlsError(`the TLS certificate ${certFile} or key ${keyFile} is not valid PEM: ${(e as Error).message}`);
  }
  return { cert, key };
}

/**
 * The certificate to serve: the given files, else the self-signed pair in `dir` (made now, valid ten
 * years, for the listen address, loopback and this host's name, when it is not there yet).
 */
export async function loadOrMakeCert(o: { certFile?: string; keyFile?: string; dir: string; listenHost: string; altNames?: string[] }): Promise<TlsMaterial> {
  if (o.certFile || o.keyFile) {
    if (!o.certFile || !o.keyFile) throw new TlsError('tls.cert and tls.key go together: give both files, or neither for a self-signed certificate');
    const p = await readPair(o.certFile, o.keyFile);
    return { ...p, certFile: o.certFile, ...fingerprints(p.cert), generated: false };
  }
  const certFile = join(o.dir, 'cert.pem');
  const keyFile = join(o.dir, 'key.pem');
  let generated = false;
  try {
    await readFile(certFile);
  } catch {
    await mkdir(o.dir, { recursive: true, mode: 0o700 });
    const tmpCert = `${certFile}.tmp`;
    const tmpKey = `${keyFile}.tmp`;
    try {
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        tmpKey,
        '-out',
        tmpCert,
        '-days',
        '3650',
        '-subj',
        '/O=Portway/CN=portway',
        '-addext',
        `subjectAltName=${altNames(o.listenHost, o.altNames ?? [])}`,
      ]);
      await chmod(tmpKey, 0o600);
      await rename(tmpKey, keyFile);
      await rename(tmpCert, certFile);
    } catch (e) {
      await rm(tmpKey, { force: true });
      await rm(tmpCert, { force: true });
      throw new TlsError(`cannot make a self-signed TLS certificate with openssl: ${(e as Error).message}`);
    }
    generated = true;
  }
  const p = await readPair(certFile, keyFile);
  return { ...p, certFile, ...fingerprints(p.cert), generated };
}
