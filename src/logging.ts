// Logger settings for journald: pino JSON on stdout, one line per step. Secrets never reach a log line:
// Authorization headers and tokens are redacted, query strings (our URL signatures, vendors' numbers) are
// cut from request URLs, and phone numbers are masked to their last 4 digits where we log them.
import type { FastifyBaseLogger } from 'fastify';
import type { LoggerOptions } from 'pino';

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    base: { service: 'exotel-caller' },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'headers.authorization',
        '*.apiToken',
        '*.apiKey',
        '*.webhookSecret',
        'apiToken',
        'webhookSecret',
      ],
      censor: '[redacted]',
    },
    serializers: {
      req: (req: { method: string; url: string; id?: string }) => ({ method: req.method, url: safeUrl(req.url), id: req.id }),
    },
  };
}

export const withoutQuery = (url: string): string => url.split('?')[0] ?? url;

/** A request URL fit for a log line: no query string (signatures), no applet or Voicebot path token. */
export const safeUrl = (url: string): string => withoutQuery(url).replace(/^\/(applet|voicebot)\/[^/]+/, '/$1/<token>');

/** Log lines about one call, with its ids on every line. */
export interface CallLog {
  info(objOrMsg: object | string, msg?: string): void;
  warn(objOrMsg: object | string, msg?: string): void;
}

/**
 * The same lines a pino child would write, without making a child per request: a child costs more than the
 * rest of a replayed ExoML step (BENCHMARKS.md).
 */
export function callLog(log: FastifyBaseLogger, ids: Record<string, unknown>): CallLog {
  const line = (level: 'info' | 'warn') => (objOrMsg: object | string, msg?: string) => {
    if (typeof objOrMsg === 'string') log[level](ids, objOrMsg);
    else log[level]({ ...ids, ...objOrMsg }, msg);
  };
  return { info: line('info'), warn: line('warn') };
}

/** +919812345678 → ******5678 */
export function maskPhone(phone: string | undefined): string | undefined {
  if (!phone) return phone;
  const digits = phone.replace(/\D/g, '');
  return digits.length <= 4 ? '****' : `******${digits.slice(-4)}`;
}
