/** The CLI's HTTP client: base URL and API token from `portway login`, or PORTWAY_URL / PORTWAY_TOKEN. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface CliConfig {
  url: string;
  token?: string;
}

export function cliConfigPath(): string {
  return process.env.PORTWAY_CLI_CONFIG ?? join(homedir(), '.config', 'portway', 'cli.json');
}

export async function loadCliConfig(): Promise<CliConfig> {
  let saved: Partial<CliConfig> = {};
  try {
    saved = JSON.parse(await readFile(cliConfigPath(), 'utf8')) as Partial<CliConfig>;
  } catch {}
  const token = process.env.PORTWAY_TOKEN ?? saved.token;
  return { url: process.env.PORTWAY_URL ?? saved.url ?? 'http://127.0.0.1:8080', ...(token ? { token } : {}) };
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
  let res: Response;
  try {
    res = await fetch(new URL(path, c.url), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'unreachable', `cannot reach Portway at ${c.url}: ${(e as Error).message}`);
  }
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    throw new ApiError(res.status, 'bad_reply', `Portway answered ${res.status} with a body that is not JSON`);
  }
  if (!res.ok) throw new ApiError(res.status, json.code ?? 'error', json.message ?? `HTTP ${res.status}`, json.details ?? {});
  return json as T;
}
