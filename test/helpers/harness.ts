// Builds the real app on a loopback port against the built-in simulator, in live mode: the server's own
// HTTP client talks to the simulated Exotel exactly as it would to api.exotel.com.
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { loggerOptions } from '../../src/logging.js';
import { request } from 'undici';
import app, { serverOptions } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { ExotelClient } from '../../src/exotel/client.js';
import { startSimulator, type ExotelSimulator } from '../../src/simulator/exotel-simulator.js';
import { openDatabase, type Db } from '../../src/store/database.js';

// Obviously fake credentials, shared by the simulator and the server under test.
export const TEST_ACCOUNT = { accountSid: 'test-account', apiKey: 'test-key', apiToken: 'test-token-not-a-secret' };

export interface Harness {
  app: FastifyInstance;
  simulator: ExotelSimulator;
  db: Db;
  config: Config;
  baseUrl: string;
  /** POST /api/call/vendor-order with the given fields (JSON), answered as status + JSON. */
  trigger(fields: Record<string, unknown>, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  /** POST with a JSON body (or none), answered as status + JSON. */
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  /** Reads the call back once it has settled (its final outcome decided and in the outbox). */
  settled(callSidOrId: string, headers?: Record<string, string>): Promise<any>;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface HarnessOptions {
  /** A clock the test moves by hand; with it the scheduler does not run by itself (call `app.scheduler.tick()`). */
  now?: () => Date;
  /** How long the simulated phone rings before the vendor answers. */
  ringDelayMs?: number;
  /** Voicebot mode: multiplies the waits for keys (default 0.1: a 6 s wait takes 0.6 s). */
  voicebotWaitScale?: number;
  /** The server's log lines (as journald would get them) are collected here; without it, nothing is logged. */
  logLines?: string[];
}

export async function startHarness(env: Record<string, string> = {}, options: HarnessOptions = {}): Promise<Harness> {
  const simulator = await startSimulator({ account: TEST_ACCOUNT, ringDelayMs: options.ringDelayMs ?? 0, ...(options.now ? { now: options.now } : {}) });
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'exotel-caller-test-'));
  const config = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    EXOTEL_MODE: 'live',
    EXOTEL_API_BASE_URL: simulator.url,
    EXOTEL_ACCOUNT_SID: TEST_ACCOUNT.accountSid,
    EXOTEL_API_KEY: TEST_ACCOUNT.apiKey,
    EXOTEL_API_TOKEN: TEST_ACCOUNT.apiToken,
    EXOTEL_CALLER_ID: '08000000000',
    EXOTEL_HTTP_TIMEOUT_MS: '2000',
    // Tests run at any hour; the calling-window tests set their own.
    CALLING_WINDOW: '00:00-24:00',
    SCHEDULER_TICK_MS: '20',
    // The API's own rate limit has its test; here it would only slow the bursts down.
    API_RATE_LIMIT_PER_MINUTE: '1000000',
    REDIAL_DELAY_SECONDS: '0',
    LATE_KEYS_GRACE_SECONDS: '1',
    // Closing a harness waits for no call; the shutdown tests set their own drain.
    SHUTDOWN_DRAIN_SECONDS: '0',
    RETRY_BASE_MS: '20',
    RETRY_MAX_MS: '200',
    DATABASE_PATH: join(dir, 'calls.db'),
    LOG_LEVEL: 'silent',
    ...env,
  });
  const db = openDatabase(config.databasePath);
  const exotel = new ExotelClient(config.exotel);
  const logging = options.logLines
    ? { loggerInstance: pino(loggerOptions(config.logLevel), { write: (line: string) => void options.logLines!.push(line) }) as FastifyBaseLogger }
    : { logger: false };
  const server = Fastify({ ...logging, ...serverOptions(config) });
  await server.register(app, { config, db, exotel, voicebotWaitScale: options.voicebotWaitScale ?? 0.1, ...(options.now ? { now: options.now, runScheduler: false } : {}) });
  await server.listen({ port, host: '127.0.0.1' });
  const baseUrl = `http://127.0.0.1:${port}`;
  if (config.appletPathToken) {
    // The simulated dashboard holds the README's recipe for the configured app.
    const token = config.appletPathToken;
    simulator.installReadmeFlow(config.exotel.appId, config.exotel.flowMode, (applet) => server.links.applet(applet, token));
  }

  const call = async (method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await request(`${baseUrl}${path}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.body.text();
    return { status: response.statusCode, body: text ? JSON.parse(text) : undefined };
  };

  return {
    app: server,
    simulator,
    db,
    config,
    baseUrl,
    trigger: (fields, headers) => call('POST', '/api/call/vendor-order', fields, headers),
    get: (path, headers) => call('GET', path, undefined, headers),
    post: (path, body, headers) => call('POST', path, body, headers),
    async settled(key, headers) {
      for (let i = 0; i < 500; i++) {
        const read = await call('GET', `/api/calls/${key}`, undefined, headers);
        if (read.body?.call?.settled_at) return read.body.call;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error(`call ${key} did not settle`);
    },
    async close() {
      await simulator.close();
      await server.close();
      await exotel.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The settings that switch a harness to voicebot mode (PROMPTS_DIR: see `testPrompts`). */
export const voicebotMode = (promptsDir: string) => ({ ...APPLET_MODE, EXOTEL_FLOW_MODE: 'voicebot', PROMPTS_DIR: promptsDir });

/** The settings that switch a harness to applet mode. */
export const APPLET_MODE = { EXOTEL_FLOW_MODE: 'applet', EXOTEL_APP_ID: 'test-app', APPLET_PATH_TOKEN: 'test-applet-path-token-0123456789abcdef' };

/** A vendor order with obviously fake details; override any field. */
export function order(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    vendor_phone: '+919000000001',
    vendor_name: 'Test Vendor',
    order_id: 'ORD-TEST-1',
    order_amount: 550,
    items: 'Tomato 2kg',
    ...fields,
  };
}
