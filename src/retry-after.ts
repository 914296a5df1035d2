// How long an HTTP peer (Exotel, the backend) asks us to wait before asking again.

/** A Retry-After header in seconds from `now`: given as seconds or as an HTTP date (RFC 9110 §10.2.3). */
export function retryAfter(header: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}
