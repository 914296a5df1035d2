// The real server process killed with SIGKILL in the middle of a burst of triggers and callbacks, then
// restarted on the same database: every request that got a 2xx has its effect stored, no attempt was
// dialled twice, and every outcome reaches the backend once the server is back.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type ExotelSimulator } from '../../src/simulator/exotel-simulator.js';
import { openDatabase } from '../../src/store/database.js';
import { startBackend, type Backend } from '../helpers/backend.js';
import { freePort, order, TEST_ACCOUNT } from '../helpers/harness.js';

const SECRET = 'crash-test-outcome-secret-0123456789';
let simulator: ExotelSimulator;
let backend: Backend;
let dir: string;
let port: number;
const children: ChildProcess[] = [];

function startServer(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      DATABASE_PATH: join(dir, 'calls.db'),
      EXOTEL_MODE: 'live',
      EXOTEL_API_BASE_URL: simulator.url,
      EXOTEL_ACCOUNT_SID: TEST_ACCOUNT.accountSid,
      EXOTEL_API_KEY: TEST_ACCOUNT.apiKey,
      EXOTEL_API_TOKEN: TEST_ACCOUNT.apiToken,
      EXOTEL_CALLER_ID: '08000000000',
      EXOTEL_HTTP_TIMEOUT_MS: '1000',
      CALLING_WINDOW: '00:00-24:00',
      OUTCOME_WEBHOOK_URL: backend.url,
      OUTCOME_WEBHOOK_SECRET: SECRET,
      RECONCILE_AFTER_SECONDS: '1',
      RECONCILE_BACKOFF_SECONDS: '1',
      REDIAL_DELAY_SECONDS: '0',
      RETRY_BASE_MS: '50',
      RETRY_MAX_MS: '500',
      SCHEDULER_TICK_MS: '20',
      LOG_LEVEL: 'warn',
      DOTENV_CONFIG_PATH: join(dir, 'no.env'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start')), 20_000);
    const poll = async () => {
      try {
        const health = await request(`http://127.0.0.1:${port}/health`);
        await health.body.dump();
        if (health.statusCode === 200) return (clearTimeout(timer), resolve(child));
      } catch {
        // not up yet
      }
      setTimeout(poll, 50);
    };
    void poll();
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'exotel-caller-crash-'));
  port = await freePort();
  // The phone rings for a while, so calls are on the line when the server dies.
  simulator = await startSimulator({ account: TEST_ACCOUNT, ringDelayMs: 150 });
  simulator.setFaults({ callbacks: { drop: 0.2, duplicate: 0.2, delayMs: 50 }, seed: 7 });
  backend = await startBackend(SECRET);
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await simulator.close();
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

async function trigger(i: number) {
  const vendor = `9000${String(i).padStart(4, '0')}0${(i % 8) + 1}`;
  try {
    const response = await request(`http://127.0.0.1:${port}/api/call/vendor-order`, {
      method: 'POST',
      // A backend that retries a request it got no answer to sends the same Idempotency-Key.
      headers: { 'content-type': 'application/json', 'idempotency-key': `crash-${i}` },
      body: JSON.stringify(order({ order_id: `CRASH-${i}`, vendor_phone: vendor })),
    });
    const body = (await response.body.json()) as { call_id?: string };
    return { i, status: response.statusCode, callId: body.call_id };
  } catch {
    return { i, status: 0, callId: undefined };
  }
}

describe('SIGKILL in the middle of a burst', () => {
  it('loses nothing a 2xx promised, dials no attempt twice, and delivers every outcome after the restart', async () => {
    const first = await startServer();
    const answers: Array<{ i: number; status: number; callId: string | undefined }> = [];
    const inFlight: Array<Promise<void>> = [];
    for (let i = 0; i < 80; i++) {
      inFlight.push(trigger(i).then((a) => void answers.push(a)));
      if (i === 40) first.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(inFlight);
    const ended = first.exitCode !== null || first.signalCode !== null;
    await new Promise<void>((resolve) => (ended ? resolve() : first.once('exit', () => resolve())));
    await startServer();
    // Orders the dead server never answered are sent again, as a backend would.
    for (const unanswered of answers.filter((a) => a.status === 0)) {
      const again = await trigger(unanswered.i);
      Object.assign(unanswered, again);
    }
    const promised = answers.filter((a) => a.status >= 200 && a.status < 300);
    expect(promised.length).toBe(80);
    expect(answers.filter((a) => a.status === 0)).toEqual([]);

    // Wait for every call to settle and its outcome to reach the backend.
    const db = openDatabase(join(dir, 'calls.db'));
    try {
      const unsettled = () => (db.prepare('SELECT COUNT(*) AS n FROM calls WHERE settled_at IS NULL').get() as { n: number }).n;
      for (let i = 0; i < 600 && (unsettled() > 0 || backend.outcomes.size < 80); i++) await new Promise((r) => setTimeout(r, 50));
      expect(unsettled()).toBe(0);
      const calls = db.prepare('SELECT id, order_id, outcome, status FROM calls').all() as Array<{ id: string; order_id: string; outcome: string; status: string }>;
      expect(calls).toHaveLength(80);
      // Every 2xx has its call stored, and every call's outcome reached the backend exactly as stored.
      for (const answer of promised) expect(calls.some((c) => c.id === answer.callId)).toBe(true);
      for (const call of calls) expect(backend.outcomes.get(`outcome_${call.id}`), call.order_id).toMatchObject({ outcome: call.outcome, status: call.status });
      // No attempt dialled twice: every simulated call belongs to exactly one attempt row, and the reverse.
      const attemptSids = (db.prepare('SELECT exotel_call_sid FROM attempts WHERE exotel_call_sid IS NOT NULL').all() as Array<{ exotel_call_sid: string }>).map((r) => r.exotel_call_sid).sort();
      expect([...simulator.calls.keys()].sort()).toEqual(attemptSids);
      // Every callback the server answered 200 is stored.
      const stored = new Set((db.prepare("SELECT params_json FROM call_events WHERE kind = 'status_callback'").all() as Array<{ params_json: string }>).map((r) => JSON.parse(r.params_json).CallSid));
      for (const call of simulator.calls.values()) {
        if (call.callbacks.some((c) => c.status === 200)) expect(stored.has(call.sid), call.sid).toBe(true);
      }
    } finally {
      db.close();
    }
  }, 90_000);
});
