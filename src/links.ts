// The URLs we hand Exotel, and the one place that signs and checks them. Exotel signs nothing
// (reference §7), so a URL is trusted only if it carries our HMAC over the path and our own parameters.
// Exotel adds its own parameters (CallSid, Digits, ...) to the same URL; those are not covered.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The query parameters that are ours; everything else on an Exotel request is Exotel's. */
export const OWN_PARAMS = ['call', 'turn', 'attempt'] as const;
export type OwnParams = Partial<Record<(typeof OWN_PARAMS)[number], string>>;

export class Links {
  constructor(
    private readonly publicBaseUrl: string,
    private readonly secret: string | undefined,
  ) {}

  get signing(): boolean {
    return this.secret !== undefined;
  }

  exomlStep(slug: string, params: OwnParams): string {
    return this.build(`/exoml/${slug}`, params);
  }

  /** The applet URLs an operator types into the dashboard flow once (README, "Applet mode"). */
  applet(name: 'gather' | 'passthru' | 'greeting', pathToken: string): string {
    return `${this.publicBaseUrl}/applet/${pathToken}/${name}`;
  }

  /** Per attempt: a late report for an earlier dial of the same call is told apart from the current one. */
  statusCallback(callId: string, attempt: number): string {
    return this.build('/webhook/exotel/status', { call: callId, attempt: String(attempt) });
  }

  /** True when no secret is configured, or the request's path and own parameters carry a valid signature. */
  verify(path: string, query: Record<string, unknown>): boolean {
    if (!this.secret) return true;
    const given = query.sig;
    if (typeof given !== 'string') return false;
    const own: OwnParams = {};
    for (const key of OWN_PARAMS) {
      const value = query[key];
      if (typeof value === 'string') own[key] = value;
      else if (value !== undefined) return false; // repeated or odd: never ours
    }
    const expected = Buffer.from(this.sign(path, own));
    const actual = Buffer.from(given);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }

  private build(path: string, params: OwnParams): string {
    const query = new URLSearchParams(canonicalEntries(params));
    if (this.secret) query.set('sig', this.sign(path, params));
    const qs = query.toString();
    return `${this.publicBaseUrl}${path}${qs ? `?${qs}` : ''}`;
  }

  private sign(path: string, params: OwnParams): string {
    const canonical = `${path}?${new URLSearchParams(canonicalEntries(params)).toString()}`;
    return createHmac('sha256', this.secret!).update(canonical).digest('base64url');
  }
}

function canonicalEntries(params: OwnParams): Array<[string, string]> {
  return OWN_PARAMS.flatMap((key) => (params[key] === undefined ? [] : [[key, params[key]!] as [string, string]]));
}
