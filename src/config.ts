// One zod schema over the environment, parsed once at boot. The variable names are the interface ops and
// tests rely on; .env.example documents each one.
import { isIP } from 'node:net';
import { FLOWS } from './flows/registry.js';
import { LANGUAGES, type Language } from './flows/types.js';
import { normalisePhone } from './phone.js';
import { z } from 'zod';
import type { ExotelAccount } from './exotel/client.js';
import { isValidTimeZone, parseWindow, type CallingWindow } from './jobs/calling-window.js';

const emptyAsUndefined = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);
// Secrets we check requests against: long enough that guessing is hopeless.
const secret = z.preprocess(emptyAsUndefined, z.string().trim().min(32, 'must be at least 32 characters').optional());
const commaList = (value: unknown) =>
  typeof value === 'string' && value.trim() !== '' ? value.split(',').map((item) => item.trim()).filter(Boolean) : undefined;
const optionalText = z.preprocess(emptyAsUndefined, z.string().trim().min(1).optional());
const httpUrl = z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' });
const integer = (min: number, max: number, fallback: number) =>
  z.preprocess(
    emptyAsUndefined,
    z.coerce
      .number({ error: `must be a whole number from ${min} to ${max}` })
      .int(`must be a whole number from ${min} to ${max}`)
      .min(min, `must be a whole number from ${min} to ${max}`)
      .max(max, `must be a whole number from ${min} to ${max}`)
      .default(fallback),
  );

const schema = z
  .object({
    PORT: integer(0, 65535, 3151),
    HOST: z.preprocess(emptyAsUndefined, z.string().default('127.0.0.1')),
    // How Exotel reaches us. Every URL we hand Exotel is built from it, never from an incoming request.
    PUBLIC_BASE_URL: z.preprocess(emptyAsUndefined, httpUrl.optional()),
    EXOTEL_MODE: z.preprocess(emptyAsUndefined, z.enum(['live', 'simulator'], { error: 'must be live or simulator' }).optional()),
    EXOTEL_API_BASE_URL: z.preprocess(emptyAsUndefined, httpUrl.default('https://api.exotel.com')),
    EXOTEL_ACCOUNT_SID: optionalText,
    EXOTEL_API_KEY: optionalText,
    EXOTEL_API_TOKEN: optionalText,
    // Digits and an optional leading + only: a CallerId with spaces or dashes was seen to get a 400 (reference §1.7).
    EXOTEL_CALLER_ID: z.preprocess(
      emptyAsUndefined,
      z.string().regex(/^\+?\d{6,15}$/, 'must be digits with an optional leading +').optional(),
    ),
    // Comma list such as "terminal". Empty by default: flow calls with it were seen to get a 400 (reference §1.7).
    EXOTEL_STATUS_CALLBACK_EVENTS: z.preprocess(
      emptyAsUndefined,
      z
        .string()
        .regex(/^(terminal|answered)(,(terminal|answered))*$/, 'must be a comma list of terminal, answered')
        .optional(),
    ),
    EXOTEL_HTTP_TIMEOUT_MS: integer(100, 60_000, 10_000),
    // exoml: the Url is our /exoml greeting. applet: the Url is a dashboard flow whose applets call /applet/*.
    // voicebot: the Url is a dashboard flow whose Voicebot applet streams the call to /voicebot/<token>.
    EXOTEL_FLOW_MODE: z.preprocess(emptyAsUndefined, z.enum(['exoml', 'applet', 'voicebot'], { error: 'must be exoml, applet or voicebot' }).default('exoml')),
    // The sample rate our stream URL asks the Voicebot applet for (reference §6.1); 8000 is Exotel's default.
    VOICEBOT_SAMPLE_RATE: z.preprocess(emptyAsUndefined, z.enum(['8000', '16000', '24000'], { error: 'must be 8000, 16000 or 24000' }).default('8000')),
    EXOTEL_APP_ID: z.preprocess(emptyAsUndefined, z.string().regex(/^[\w-]{1,64}$/, 'must be the flow\'s app id from the dashboard').optional()),
    // The secret path segment of the applet URLs typed into the dashboard (/applet/<token>/gather).
    APPLET_PATH_TOKEN: z.preprocess(
      emptyAsUndefined,
      z.string().regex(/^[\w-]{32,128}$/, 'must be 32 to 128 letters, digits, - or _').optional(),
    ),
    // TimeOut: ring time, at most 60 s (reference §1.4). TimeLimit: the longest a call may last.
    CALL_RING_TIMEOUT_SECONDS: integer(10, 60, 45),
    CALL_TIME_LIMIT_SECONDS: integer(30, 14_400, 300),
    // Nothing lost, nothing twice: the queue, retries, redials, calling hours, reconciliation, outcome delivery.
    EXOTEL_CALLS_PER_MINUTE: integer(1, 10_000, 200),
    RETRY_BASE_MS: integer(10, 600_000, 2_000),
    RETRY_MAX_MS: integer(100, 3_600_000, 300_000),
    DISPATCH_MAX_RETRIES: integer(0, 100, 8),
    REDIAL_DELAY_SECONDS: integer(0, 86_400, 120),
    REDIAL_MAX_ATTEMPTS: integer(0, 10, 2),
    CALLING_WINDOW: z.preprocess(emptyAsUndefined, z.string().optional()),
    CALLING_TIMEZONE: z.preprocess(
      emptyAsUndefined,
      z.string().refine(isValidTimeZone, 'must be an IANA time zone such as Asia/Kolkata').default('Asia/Kolkata'),
    ),
    RECONCILE_AFTER_SECONDS: integer(1, 86_400, 300),
    RECONCILE_BACKOFF_SECONDS: integer(1, 3_600, 60),
    // A call that ends while a question is open settles this long after Exotel's final status, so keys
    // pressed just before the hang-up, whose request arrives after the status, still count (0: at once).
    LATE_KEYS_GRACE_SECONDS: integer(0, 120, 10),
    // On SIGTERM: how long calls on the line get to finish while nothing new is dialled (jobs/shutdown.ts).
    SHUTDOWN_DRAIN_SECONDS: integer(0, 600, 60),
    OUTCOME_WEBHOOK_URL: z.preprocess(emptyAsUndefined, httpUrl.optional()),
    OUTCOME_WEBHOOK_SECRET: secret,
    OUTCOME_MAX_AGE_HOURS: integer(1, 24 * 30, 72),
    SCHEDULER_TICK_MS: integer(10, 60_000, 250),
    // The language of a call when neither the request nor the number's stored preference names one.
    DEFAULT_LANGUAGE: z.preprocess(emptyAsUndefined, z.enum(LANGUAGES, { error: `must be one of ${LANGUAGES.join(', ')}` }).default('hi-IN')),
    // A human agent: the number a caller is connected to after AGENT_KEY, or after too many wrong keys.
    AGENT_NUMBER: z.preprocess(emptyAsUndefined, z.string().refine((v) => normalisePhone(v) !== undefined, 'must be an Indian phone number').optional()),
    AGENT_KEY: z.preprocess(emptyAsUndefined, z.string().regex(/^[0-9*]$/, 'must be one key: 0-9 or *').default('0')),
    AGENT_RING_TIMEOUT_SECONDS: integer(5, 120, 30),
    // Optional: /metrics also on this port, without a token, for a scraper on the same host (bound to METRICS_HOST).
    METRICS_PORT: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(1).max(65535).optional()),
    METRICS_HOST: z.preprocess(emptyAsUndefined, z.string().default('127.0.0.1')),
    // The API docs at /docs (OpenAPI): on by default, off in production unless DOCS_ENABLED=true.
    DOCS_ENABLED: z.preprocess(emptyAsUndefined, z.enum(['true', 'false']).optional()),
    // Recorded prompts: <dir>/<language>/<clip>.wav, 8 kHz mono 16-bit (README "Recorded prompts"). Unset: TTS only.
    PROMPTS_DIR: z.preprocess(emptyAsUndefined, z.string().optional()),
    DATABASE_PATH: z.preprocess(emptyAsUndefined, z.string().default('./data/exotel-caller.db')),
    NODE_ENV: z.preprocess(emptyAsUndefined, z.string().optional()),
    API_TOKEN: secret,
    WEBHOOK_SECRET: secret,
    // The previous secret, still accepted while URLs signed with it are in flight (rotation, README "Security").
    WEBHOOK_SECRET_PREVIOUS: secret,
    // Requests per minute per API token (or per address without one) on /api; 429 with Retry-After past it.
    API_RATE_LIMIT_PER_MINUTE: integer(1, 1_000_000, 600),
    // Only numbers starting with one of these E.164 prefixes are dialled, e.g. "+9198,+9170".
    DIAL_ALLOWLIST: z.preprocess(commaList, z.array(z.string().regex(/^\+\d{1,14}$/, 'must be E.164 prefixes such as +9198')).optional()),
    // Exotel-facing routes answer only these networks, e.g. "203.0.113.0/24,2001:db8::/32" (ask Exotel for theirs).
    EXOTEL_ALLOWED_CIDRS: z.preprocess(commaList, z.array(z.string().refine(isCidr, 'must be CIDR blocks such as 203.0.113.0/24')).optional()),
    // How many reverse proxies stand in front (their X-Forwarded-For is trusted), or a comma list of their addresses.
    TRUST_PROXY: z.preprocess(emptyAsUndefined, z.string().regex(/^(\d{1,2}|true|false|[\d.:/a-fA-F,\s]+)$/, 'must be a hop count, true/false, or proxy addresses').optional()),
    LOG_LEVEL: z.preprocess(
      emptyAsUndefined,
      z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'must be one of fatal, error, warn, info, debug, trace, silent' }).default('info'),
    ),
  })
  .superRefine((env, ctx) => {
    // Production never runs open: our API and every URL Exotel calls must be locked.
    if (env.NODE_ENV === 'production') {
      const needed: Array<'API_TOKEN' | 'WEBHOOK_SECRET' | 'APPLET_PATH_TOKEN'> = ['API_TOKEN', 'WEBHOOK_SECRET'];
      if (env.EXOTEL_FLOW_MODE !== 'exoml') needed.push('APPLET_PATH_TOKEN');
      for (const name of needed) {
        if (!env[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'is required when NODE_ENV=production' });
      }
      // Unsigned outcomes would let anyone who finds the backend's URL accept or cancel its orders there.
      if (env.OUTCOME_WEBHOOK_URL && !env.OUTCOME_WEBHOOK_SECRET) {
        ctx.addIssue({ code: 'custom', path: ['OUTCOME_WEBHOOK_SECRET'], message: 'is required with OUTCOME_WEBHOOK_URL when NODE_ENV=production' });
      }
    }
    // The agent key must not be a key a menu already uses (its choices, or the language key).
    if (env.AGENT_NUMBER) {
      const taken = new Set(Object.values(FLOWS).flatMap((flow) => [
        ...(flow.languageChoice ? [flow.languageChoice.key] : []),
        ...Object.values(flow.steps).flatMap((step) => (step.kind === 'choice' ? Object.keys(step.choices) : [])),
      ]));
      if (taken.has(env.AGENT_KEY)) ctx.addIssue({ code: 'custom', path: ['AGENT_KEY'], message: `must not be a key the menus use (${[...taken].sort().join(', ')})` });
    }
    // A stream has no TTS: every prompt must be a recording (checked clip by clip at boot).
    if (env.EXOTEL_FLOW_MODE === 'voicebot' && !env.PROMPTS_DIR) {
      ctx.addIssue({ code: 'custom', path: ['PROMPTS_DIR'], message: 'is required when EXOTEL_FLOW_MODE=voicebot (the stream plays only recorded prompts)' });
    }
    if (env.METRICS_PORT !== undefined && env.METRICS_PORT === env.PORT) {
      ctx.addIssue({ code: 'custom', path: ['METRICS_PORT'], message: 'must differ from PORT (/metrics is served on PORT already, behind the API token)' });
    }
    if (env.CALLING_WINDOW !== undefined && !parseWindow(env.CALLING_WINDOW, 'UTC')) {
      ctx.addIssue({ code: 'custom', path: ['CALLING_WINDOW'], message: 'must look like 09:00-21:00' });
    }
    if (env.EXOTEL_MODE !== 'live') return;
    for (const name of ['EXOTEL_ACCOUNT_SID', 'EXOTEL_API_KEY', 'EXOTEL_API_TOKEN', 'EXOTEL_CALLER_ID', 'PUBLIC_BASE_URL'] as const) {
      if (!env[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'is required when EXOTEL_MODE=live' });
    }
    if (env.EXOTEL_FLOW_MODE === 'exoml') return;
    for (const name of ['EXOTEL_APP_ID', 'APPLET_PATH_TOKEN'] as const) {
      if (!env[name]) ctx.addIssue({ code: 'custom', path: [name], message: `is required when EXOTEL_FLOW_MODE=${env.EXOTEL_FLOW_MODE} with a live Exotel` });
    }
  });

export interface Config {
  port: number;
  host: string;
  /** Without a trailing slash. */
  publicBaseUrl: string;
  exotel: ExotelAccount & {
    mode: 'live' | 'simulator';
    ringTimeoutSeconds: number;
    timeLimitSeconds: number;
    flowMode: 'exoml' | 'applet' | 'voicebot';
    /** The dashboard flow applet mode runs (the simulator's own in simulator mode). */
    appId: string;
  };
  jobs: {
    callsPerMinute: number;
    retryBaseMs: number;
    retryMaxMs: number;
    dispatchMaxRetries: number;
    redialDelaySeconds: number;
    redialMaxAttempts: number;
    callingWindow: CallingWindow;
    reconcileAfterSeconds: number;
    reconcileBackoffSeconds: number;
    lateKeysGraceSeconds: number;
    shutdownDrainSeconds: number;
    tickMs: number;
  };
  outcome: { webhookUrl: string | undefined; webhookSecret: string | undefined; maxAgeHours: number };
  security: {
    webhookSecretPrevious: string | undefined;
    apiRateLimitPerMinute: number;
    dialAllowlist: string[] | undefined;
    exotelAllowedCidrs: string[] | undefined;
    trustProxy: boolean | number | string[];
  };
  metrics: { port: number | undefined; host: string };
  docsEnabled: boolean;
  defaultLanguage: Language;
  promptsDir: string | undefined;
  /** Undefined: no agent; the agent key is then just a wrong key. */
  agent: { number: string; key: string; ringTimeoutSeconds: number } | undefined;
  /** The secret path segment of /applet/<token>/…; the applet routes exist only when it is set. */
  appletPathToken: string | undefined;
  voicebotSampleRate: 8_000 | 16_000 | 24_000;
  databasePath: string;
  apiToken: string | undefined;
  webhookSecret: string | undefined;
  logLevel: string;
}

/** Thrown when the environment is unusable; its message is the one line ops read in journalctl. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_ERR_INVALID';
}

// The simulator's own account: fake values, never a real credential.
export const SIMULATOR_ACCOUNT = {
  accountSid: 'simulated-account',
  apiKey: 'simulated-key',
  apiToken: 'simulated-token',
  callerId: '08000000000',
  appId: 'simulated-app',
  appletPathToken: 'simulated-applet-path-token-not-a-secret',
} as const;

function isCidr(text: string): boolean {
  const [address, bits, extra] = text.split('/');
  if (!address || bits === undefined || extra !== undefined || !/^\d{1,3}$/.test(bits)) return false;
  const family = isIP(address);
  return family !== 0 && Number(bits) <= (family === 4 ? 32 : 128);
}

/** Fastify's trustProxy: false by default (no proxy: the peer address is the client). */
function trustProxy(value: string | undefined): boolean | number | string[] {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) return Number(value);
  return value.split(',').map((item) => item.trim()).filter(Boolean);
}

/** TRUST_PROXY as Fastify takes it: a hop count becomes "trust the n nearest hops". */
export function fastifyTrustProxy(value: boolean | number | string[]): boolean | string[] | ((address: string, hop: number) => boolean) {
  return typeof value === 'number' ? (_address: string, hop: number) => hop < value : value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = issue.path.join('.');
      const got = typeof issue.path[0] === 'string' ? env[issue.path[0]] : undefined;
      // Never echo a value that may be a secret.
      const shown = got !== undefined && !/TOKEN|SECRET|KEY/.test(name) ? ` (got ${JSON.stringify(got)})` : '';
      return `${name} ${issue.message}${shown}`;
    });
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  const hasCredentials = Boolean(e.EXOTEL_ACCOUNT_SID && e.EXOTEL_API_KEY && e.EXOTEL_API_TOKEN);
  const mode = e.EXOTEL_MODE ?? (hasCredentials ? 'live' : 'simulator');
  if (mode === 'live' && !e.EXOTEL_MODE) {
    // Credentials without an explicit mode: the live checks above did not run, so run them now.
    return loadConfig({ ...env, EXOTEL_MODE: 'live' });
  }
  const account = mode === 'live'
    ? { accountSid: e.EXOTEL_ACCOUNT_SID!, apiKey: e.EXOTEL_API_KEY!, apiToken: e.EXOTEL_API_TOKEN!, callerId: e.EXOTEL_CALLER_ID! }
    : { ...SIMULATOR_ACCOUNT, callerId: e.EXOTEL_CALLER_ID ?? SIMULATOR_ACCOUNT.callerId };
  return {
    port: e.PORT,
    host: e.HOST,
    publicBaseUrl: (e.PUBLIC_BASE_URL ?? `http://127.0.0.1:${e.PORT}`).replace(/\/+$/, ''),
    exotel: {
      mode,
      apiBaseUrl: e.EXOTEL_API_BASE_URL.replace(/\/+$/, ''),
      ...account,
      statusCallbackEvents: e.EXOTEL_STATUS_CALLBACK_EVENTS?.split(',') ?? [],
      httpTimeoutMs: e.EXOTEL_HTTP_TIMEOUT_MS,
      ringTimeoutSeconds: e.CALL_RING_TIMEOUT_SECONDS,
      timeLimitSeconds: e.CALL_TIME_LIMIT_SECONDS,
      flowMode: e.EXOTEL_FLOW_MODE,
      appId: e.EXOTEL_APP_ID ?? SIMULATOR_ACCOUNT.appId,
    },
    jobs: {
      callsPerMinute: e.EXOTEL_CALLS_PER_MINUTE,
      retryBaseMs: e.RETRY_BASE_MS,
      retryMaxMs: e.RETRY_MAX_MS,
      dispatchMaxRetries: e.DISPATCH_MAX_RETRIES,
      redialDelaySeconds: e.REDIAL_DELAY_SECONDS,
      redialMaxAttempts: e.REDIAL_MAX_ATTEMPTS,
      // The simulator rings nobody, so it calls around the clock unless CALLING_WINDOW says otherwise.
      callingWindow: parseWindow(e.CALLING_WINDOW ?? (mode === 'simulator' ? '00:00-24:00' : '09:00-21:00'), e.CALLING_TIMEZONE)!,
      reconcileAfterSeconds: e.RECONCILE_AFTER_SECONDS,
      reconcileBackoffSeconds: e.RECONCILE_BACKOFF_SECONDS,
      lateKeysGraceSeconds: e.LATE_KEYS_GRACE_SECONDS,
      shutdownDrainSeconds: e.SHUTDOWN_DRAIN_SECONDS,
      tickMs: e.SCHEDULER_TICK_MS,
    },
    outcome: { webhookUrl: e.OUTCOME_WEBHOOK_URL, webhookSecret: e.OUTCOME_WEBHOOK_SECRET, maxAgeHours: e.OUTCOME_MAX_AGE_HOURS },
    appletPathToken: e.APPLET_PATH_TOKEN ?? (mode === 'simulator' ? SIMULATOR_ACCOUNT.appletPathToken : undefined),
    voicebotSampleRate: Number(e.VOICEBOT_SAMPLE_RATE) as 8_000 | 16_000 | 24_000,
    metrics: { port: e.METRICS_PORT, host: e.METRICS_HOST },
    docsEnabled: e.DOCS_ENABLED ? e.DOCS_ENABLED === 'true' : e.NODE_ENV !== 'production',
    defaultLanguage: e.DEFAULT_LANGUAGE,
    promptsDir: e.PROMPTS_DIR,
    agent: e.AGENT_NUMBER ? { number: normalisePhone(e.AGENT_NUMBER)!, key: e.AGENT_KEY, ringTimeoutSeconds: e.AGENT_RING_TIMEOUT_SECONDS } : undefined,
    security: {
      webhookSecretPrevious: e.WEBHOOK_SECRET_PREVIOUS,
      apiRateLimitPerMinute: e.API_RATE_LIMIT_PER_MINUTE,
      dialAllowlist: e.DIAL_ALLOWLIST,
      exotelAllowedCidrs: e.EXOTEL_ALLOWED_CIDRS,
      trustProxy: trustProxy(e.TRUST_PROXY),
    },
    databasePath: e.DATABASE_PATH,
    apiToken: e.API_TOKEN,
    webhookSecret: e.WEBHOOK_SECRET,
    logLevel: e.LOG_LEVEL,
  };
}
