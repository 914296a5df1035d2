// The URLs we hand Exotel, and the one place that signs and checks them. Exotel signs nothing
// (reference §7), so a URL is trusted only if it carries our HMAC over its path, our own parameters and
// the time we issued it, and has not outlived the call. Exotel adds its own parameters (CallSid, Digits,
// ...) to the same URL; those are not covered.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The query parameters that are ours; everything else on an Exotel request is Exotel's. */
export const OWN_PARAMS = ['call', 'turn', 'attempt', 'ts'] as const;
export type OwnParams = Partial<Record<(typeof OWN_PARAMS)[number], string>>;

export interface LinkPolicy {
  /** Accepted too, during a rotation (WEBHOOK_SECRET_PREVIOUS). */
  previousSecret?: string | undefined;
  /** How long a signed flow URL (ExoML step) stays valid: the call's TimeLimit plus a margin. */
  flowUrlMaxAgeSeconds: number;
  /** How long a signed status callback URL stays valid (Exotel retries and delays callbacks, §3.1). */
  statusUrlMaxAgeSeconds: number;
  now?: () => Date;
}

export type LinkCheck = 'ok' | 'unsigned' | 'bad_signature' | 'expired';

// Exotel's clock and ours may disagree a little; a URL "from the future" beyond this is forged.
const CLOCK_SKEW_SECONDS = 300;

export class Links {
  private readonly now: () => Date;

  constructor(
    private readonly publicBaseUrl: string,
    private readonly secret: string | undefined,
    private readonly policy: LinkPolicy = { flowUrlMaxAgeSeconds: 3_600, statusUrlMaxAgeSeconds: 86_400 },
  ) {
    this.now = policy.now ?? (() => new Date());
  }

  get signing(): boolean {
    return this.secret !== undefined;
  }

  exomlStep(slug: string, params: Omit<OwnParams, 'ts'>): string {
    return this.build(`/exoml/${slug}`, params);
  }

  /** The applet URLs an operator types into the dashboard flow once (README, "Applet mode"). */
  applet(name: 'gather' | 'passthru' | 'greeting' | 'connect' | 'voicebot', pathToken: string): string {
    return `${this.publicBaseUrl}/applet/${pathToken}/${name}`;
  }

  /**
   * The Voicebot applet's stream URL (reference §6.1): ws(s) on our host, the secret in the path. With a call id
   * (the answer of /applet/<token>/voicebot) it rides as a custom parameter, so the stream finds its call even
   * before our Connect answer is stored.
   */
  voicebotStream(pathToken: string, sampleRate: number, callId?: string): string {
    const query = new URLSearchParams({ 'sample-rate': String(sampleRate), ...(callId ? { call_id: callId } : {}) });
    return `${this.publicBaseUrl.replace(/^http/, 'ws')}/voicebot/${pathToken}?${query.toString()}`;
  }

  /** Per attempt: a late report for an earlier dial of the same call is told apart from the current one. */
  statusCallback(callId: string, attempt: number): string {
    return this.build('/webhook/exotel/status', { call: callId, attempt: String(attempt) });
  }

  /** 'ok' when no secret is configured, or the request's path and own parameters carry a valid, live signature. */
  check(path: string, query: Record<string, unknown>): LinkCheck {
    if (!this.secret) return 'ok';
    const given = query.sig;
    if (given === undefined) return 'unsigned';
    if (typeof given !== 'string') return 'bad_signature';
    const own: OwnParams = {};
    for (const key of OWN_PARAMS) {
      const value = query[key];
      if (typeof value === 'string') own[key] = value;
      else if (value !== undefined) return 'bad_signature'; // repeated or odd: never ours
    }
    const secrets = [this.secret, this.policy.previousSecret].filter((s): s is string => s !== undefined);
    const actual = Buffer.from(given);
    const valid = secrets.some((secret) => {
      const expected = Buffer.from(sign(secret, path, own));
      return expected.length === actual.length && timingSafeEqual(expected, actual);
    });
    if (!valid) return 'bad_signature';
    const issued = Number(own.ts);
    const now = this.now().getTime() / 1000;
    const maxAge = path.startsWith('/webhook/') ? this.policy.statusUrlMaxAgeSeconds : this.policy.flowUrlMaxAgeSeconds;
    if (!Number.isInteger(issued) || issued > now + CLOCK_SKEW_SECONDS || now - issued > maxAge) return 'expired';
    return 'ok';
  }

  verify(path: string, query: Record<string, unknown>): boolean {
    return this.check(path, query) === 'ok';
  }

  private build(path: string, params: OwnParams): string {
    const own: OwnParams = this.secret ? { ...params, ts: String(Math.floor(this.now().getTime() / 1000)) } : params;
    const canonical = canonicalQuery(own);
    const qs = this.secret ? `${canonical}${canonical ? '&' : ''}sig=${sign(this.secret, path, own)}` : canonical;
    return `${this.publicBaseUrl}${path}${qs ? `?${qs}` : ''}`;
  }
}

/** base64url: never escaped in a query string. */
function sign(secret: string, path: string, params: OwnParams): string {
  return createHmac('sha256', secret).update(`${path}?${canonicalQuery(params)}`).digest('base64url');
}

// What application/x-www-form-urlencoded (URLSearchParams) leaves as it is: our ids, turns and times always.
const PLAIN = /^[A-Za-z0-9*._-]*$/;

/** Our parameters in a fixed order, encoded as URLSearchParams would (signed URLs already issued stay valid). */
function canonicalQuery(params: OwnParams): string {
  let query = '';
  for (const key of OWN_PARAMS) {
    const value = params[key];
    if (value === undefined) continue;
    const pair = PLAIN.test(value) ? `${key}=${value}` : new URLSearchParams([[key, value]]).toString();
    query = query ? `${query}&${pair}` : pair;
  }
  return query;
}
