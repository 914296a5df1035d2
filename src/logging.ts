// Logger settings for journald: pino JSON on stdout, one line per step. Secrets never reach a log line:
// Authorization headers and tokens are redacted, query strings (our URL signatures, vendors' numbers) are
// cut from request URLs, and phone numbers are masked to their last 4 digits where we log them.
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

/** +919812345678 → ******5678 */
export function maskPhone(phone: string | undefined): string | undefined {
  if (!phone) return phone;
  const digits = phone.replace(/\D/g, '');
  return digits.length <= 4 ? '****' : `******${digits.slice(-4)}`;
}
