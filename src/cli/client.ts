/**
 * The CLI's HTTP client: base URL, API token and how to trust the server's certificate from `portway
 * login`, or PORTWAY_URL / PORTWAY_TOKEN / PORTWAY_CA / PORTWAY_FINGERPRINT. With neither a CA nor a
 * fingerprint, an https URL on this machine trusts the local product's own certificate
 * (<PORTWAY_STATE_DIR or /var/lib/portway>/tls/cert.pem) when it is there, else the system's CAs.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { HttpError, type HttpReply, httpCall } from './http.js';

export interface CliConfig {
  url: string;
  token?: string;
  /** PEM file of the CA (or the server's self-signed certificate) to trust. */
  ca?: string;
  /** The server certificate's pinned SHA-256 fingerprint. */
  fingerprint?: string;
}

/** The local product's self-signed certificate, if this machine has one. */
function localCert(url: string): string | undefined {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return undefined;
  }
  if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(host)) return undefined;
  const f = join((process.env.PORTWAY_STATE_DIR || undefined) ?? '/var/lib/portway', 'tls', 'cert.pem');
  return existsSync(f) ? f : undefined;
}

export function cliConfigPath(): string {
  return process.env.PORTWAY_CLI_CONFIG ?? join(homedir(), '.config', 'portway', 'cli.json');
}

export async function loadCliConfig(): Promise<CliConfig> {
  let saved: Partial<CliConfig> = {};
  try {
    saved = JSON.parse(await readFile(cliConfigPath(), 'utf8')) as Partial<CliConfig>;
  } catch {}
  const token = (process.env.PORTWAY_TOKEN || undefined) ?? saved.token;
  const url = (process.env.PORTWAY_URL || undefined) ?? saved.url ?? 'https://127.0.0.1:8080';
  const fingerprint = (process.env.PORTWAY_FINGERPRINT || undefined) ?? saved.fingerprint;
  const ca = (process.env.PORTWAY_CA || undefined) ?? saved.ca ?? (fingerprint ? undefined : localCert(url));
  return { url, ...(token ? { token } : {}), ...(ca ? { ca } : {}), ...(fingerprint ? { fingerprint } : {}) };
}

export async function saveCliConfig(c: CliConfig): Promise<void> {
  const path = cliConfigPath();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
}

/** An API error, as the server sent it ({code, message, details}). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export async function call<T = any>(c: CliConfig, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (c.token) headers.authorization = `Bearer ${c.token}`;
  let url: URL;
  try {
    url = new URL(path, c.url);
  } catch {
    throw new ApiError(0, 'usage', `not a URL: ${c.url}`);
  }
  let res: HttpReply;
  try {
    res = await httpCall(url, method, headers, body === undefined ? undefined : JSON.stringify(body), {
      ...(c.ca ? { ca: c.ca } : {}),
      ...(c.fingerprint ? { fingerprint: c.fingerprint } : {}),
    });
  } catch (e) {
    if (e instanceof HttpError) throw new ApiError(0, e.code, e.message);
    throw new ApiError(0, 'unreachable', `cannot reach Portway at ${c.url}: ${(e as Error).message}`);
  }
  const text = res.text;
  let json: any;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    throw new ApiError(res.status, 'bad_reply', `Portway answered ${res.status} with a body that is not JSON`);
  }
  if (res.status < 200 || res.status >= 300) throw new ApiError(res.status, json.code ?? 'error', json.message ?? `HTTP ${res.status}`, json.details ?? {});
  return json as T;
}
