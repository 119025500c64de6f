/**
 * The logging policy: every logger of the product (serve, agent, guard, the CLI) is built here, with
 * one redaction list, so no password, token, cookie, CSRF token or CHAP secret reaches a log line.
 */
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/** Pino redaction for every log line of the product: no password, token, cookie or credential. */
export const LOG_REDACTION = {
  paths: [
    'password',
    '*.password',
    '*.*.password',
    'newPassword',
    '*.newPassword',
    'currentPassword',
    '*.currentPassword',
    'chapPassword',
    '*.chapPassword',
    'token',
    '*.token',
    'csrf',
    '*.csrf',
    'csrfToken',
    '*.csrfToken',
    'secret',
    '*.secret',
    'sessionId',
    '*.sessionId',
    'cookie',
    'authorization',
    'headers.cookie',
    'headers.authorization',
    'headers["x-csrf-token"]',
    'headers["set-cookie"]',
    'req.headers.cookie',
    'req.headers.authorization',
    'req.headers["x-csrf-token"]',
    'res.headers["set-cookie"]',
  ],
  censor: '[secret]',
};

export interface CreateLoggerOptions {
  /** The level; default: $LOG_LEVEL, else defaultLevel. */
  level?: string;
  /** The level when neither `level` nor $LOG_LEVEL is set (default info; the CLI's one-shot commands use warn). */
  defaultLevel?: string;
  /** Fields on every line (e.g. {mod, pid}). */
  base?: Record<string, unknown>;
}

/** The pino options of a product logger (level and redaction). */
export function loggerOptions(o: CreateLoggerOptions = {}): LoggerOptions {
  return {
    level: o.level ?? process.env.LOG_LEVEL ?? o.defaultLevel ?? 'info',
    redact: LOG_REDACTION,
    ...(o.base ? { base: o.base } : {}),
  };
}

/** A product logger (JSON lines on stdout, or on `dest`). */
export function createLogger(o: CreateLoggerOptions = {}, dest?: DestinationStream): Logger {
  return dest ? pino(loggerOptions(o), dest) : pino(loggerOptions(o));
}

/** A child of a logger made elsewhere (tests, embedders) that applies the product's redaction. */
export function withRedaction(log: Logger): Logger {
  return log.child({}, { redact: LOG_REDACTION });
}
