// A deploy (SIGTERM: what server.ts does is app.close()) rings nobody as the server goes, and cuts nobody off:
// nothing new is dialled, and every route still answers while the calls on the line finish. Through the
// simulator over loopback; the restart is a second server on the same database and port.
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import app, { serverOptions } from '../../src/app.js';
import { ExotelClient } from '../../src/exotel/client.js';
import { openDatabase } from '../../src/store/database.js';
import { order, startHarness, voicebotMode, type Harness } from '../helpers/harness.js';
import { testPrompts } from '../helpers/prompts.js';

const TOKEN = 'test-applet-path-token-0123456789abcdef';
let prompts: ReturnType<typeof testPrompts>;
beforeAll(() => {
  prompts = testPrompts();
});
afterAll(() => prompts.remove());

/** The next start of the service: the same database, port and Exotel, a fresh process's app. */
async function restart(h: Harness): Promise<{ server: FastifyInstance; close: () => Promise<void> }> {
  h.db.close();
  const db = openDatabase(h.config.databasePath);
  const exotel = new ExotelClient(h.config.exotel);
  const server = Fastify({ logger: false, ...serverOptions(h.config) });
  await server.register(app, { config: h.config, db, exotel });
  await server.listen({ port: h.config.port, host: '127.0.0.1' });
  return {
    server,
    close: async () => {
      await server.close();
      await exotel.close();
      db.close();
      await h.simulator.close();
    },
  };
}

const until = async (done: () => boolean, ms = 10_000) => {
  for (const end = Date.now() + ms; !done() && Date.now() < end; ) await new Promise((resolve) => setTimeout(resolve, 20));
};

describe('a deploy while a call is on the line', () => {
  it('answers every Exotel request of that call, dials nobody new, and the next start dials what waited', async () => {
    const h = await startHarness({ SHUTDOWN_DRAIN_SECONDS: '20' }, { ringDelayMs: 1_500 });
    // On the line: rung, answering in 1.5 s, then presses 3, 2 0 #.
    const live = await h.trigger(order({ order_id: 'DEPLOY-LIVE', vendor_phone: '9000000003' }));
    expect(live.status).toBe(200);
    // Waiting: Exotel answered 429 (Retry-After 1 s), so it is due again while the server drains.
    h.simulator.setFaults({ connect: ['429'], retryAfterSeconds: 1 });
    const waiting = await h.trigger(order({ order_id: 'DEPLOY-WAITING', vendor_phone: '9000222201' }));
    expect(waiting.body).toMatchObject({ status: 'queued', reason: 'retry' });
    h.simulator.setFaults({ connect: [] });

    const closing = Date.now();
    const closed = h.app.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The backend's next order, during the drain: stored and answered, never dialled by this process.
    const during = await h.trigger(order({ order_id: 'DEPLOY-DURING', vendor_phone: '9000333301' }));
    expect(during.status).toBe(202);
    expect(during.body).toEqual({ success: true, status: 'queued', reason: 'restart', scheduled_for: expect.any(String), order_id: 'DEPLOY-DURING', call_id: expect.any(String) });

    const simulated = await h.simulator.finished(live.body.call_sid);
    await closed;
    const closedAfter = Date.now() - closing;
    // The live call went to its end: every request answered 200, none dropped with a 503.
    expect(simulated.problem).toBeUndefined();
    expect(simulated.pressed).toEqual(['3', '20']);
    expect(simulated.requests.map((r) => r.status).every((status) => status === 200)).toBe(true);
    expect(simulated.callbacks.map((c) => c.status)).toContain(200);
    expect(h.app.store.get(live.body.call_id)).toMatchObject({ outcome: 'accepted', prepTimeMinutes: 20 });
    // Nobody else was rung while the server went away, and it did not wait for the whole drain.
    expect([...h.simulator.calls.values()].map((c) => c.customField)).toEqual([live.body.call_id]);
    expect(closedAfter).toBeLessThan(15_000);

    // The next start dials both, once each.
    const next = await restart(h);
    try {
      await until(() => [...h.simulator.calls.values()].length === 3, 45_000);
      const dialled = [...h.simulator.calls.values()].map((c) => c.customField).sort();
      expect(dialled).toEqual([live.body.call_id, waiting.body.call_id, during.body.call_id].sort());
    } finally {
      await next.close();
    }
  }, 60_000);
});

describe('a deploy during a call longer than 10 s', () => {
  it('still drains: Fastify\'s plugin timeout (10 s by default) does not cut the drain short', async () => {
    const h = await startHarness({ SHUTDOWN_DRAIN_SECONDS: '30' }, { ringDelayMs: 12_000 });
    try {
      const live = await h.trigger(order({ order_id: 'DEPLOY-LONG', vendor_phone: '9000000001' }));
      const closing = Date.now();
      const closed = h.app.close();
      const simulated = await h.simulator.finished(live.body.call_sid);
      await expect(closed).resolves.toBeUndefined();
      expect(Date.now() - closing).toBeGreaterThan(12_000);
      expect(simulated.problem).toBeUndefined();
      expect(h.app.store.get(live.body.call_id)).toMatchObject({ outcome: 'accepted' });
    } finally {
      await h.simulator.close();
      h.db.close();
    }
  }, 60_000);
});

describe('what the drain waits for', () => {
  it('a dial the Calls list did not show counts as on the line: it may only be late, and may ring', async () => {
    let t = new Date('2026-11-23T06:30:00.000Z').getTime(); // 12:00 IST
    const h = await startHarness({}, { now: () => new Date(t) });
    try {
      h.simulator.setFaults({ connect: ['lost'], hangMs: 300 }); // too late, and no call made: the Connect times out
      const placed = await h.trigger(order({ order_id: 'DRAIN-UNLISTED', vendor_phone: '9000000201' }));
      const id = placed.body.call_id as string;
      const since = () => new Date(t - (h.config.exotel.ringTimeoutSeconds + h.config.exotel.timeLimitSeconds) * 1000);
      expect(h.app.store.get(id)!.status).toBe('verifying');
      expect(h.app.store.onTheLine(since())).toBe(1);
      // The drain's lookup: the list does not show it, so it is queued to be dialled again; it still counts.
      h.app.scheduler.stopDialling();
      t += 5_000;
      for (let i = 0; i < 3; i++) await h.app.scheduler.tick();
      expect(h.app.store.get(id)!.status).toBe('queued');
      expect(h.app.store.attempts(id).at(-1)).toMatchObject({ result: 'not_placed' });
      expect(h.app.store.onTheLine(since())).toBe(1);
      // Once it can no longer ring (ring timeout + time limit later), it does not.
      t += (h.config.exotel.ringTimeoutSeconds + h.config.exotel.timeLimitSeconds) * 1000;
      expect(h.app.store.onTheLine(since())).toBe(0);
    } finally {
      await h.close();
    }
  });

  it('a trigger during the drain outside calling hours waits for them as any call does', async () => {
    const t = new Date('2026-11-22T16:30:00.000Z').getTime(); // 22:00 IST
    const h = await startHarness({ CALLING_WINDOW: '09:00-21:00', CALLING_TIMEZONE: 'Asia/Kolkata' }, { now: () => new Date(t) });
    try {
      const before = await h.trigger(order({ order_id: 'DRAIN-NIGHT-1', vendor_phone: '9000000101' }));
      // The drain's first step (with no call on the line it has nothing to wait for; the server still listens).
      await h.app.shutdown.drain();
      const during = await h.trigger(order({ order_id: 'DRAIN-NIGHT-2', vendor_phone: '9000000102' }));
      expect(during.body).toEqual({ success: true, status: 'queued', reason: 'calling_window', scheduled_for: '2026-11-23T03:30:00.000Z', order_id: 'DRAIN-NIGHT-2', call_id: expect.any(String) });
      // Both wait for the window alike, so a changed CALLING_WINDOW at the next start moves both.
      const waits = (id: string) => h.db.prepare('SELECT waits_for, dispatch_due_at FROM calls WHERE id = ?').get(id);
      expect(waits(during.body.call_id)).toEqual(waits(before.body.call_id));
      expect(waits(during.body.call_id)).toEqual({ waits_for: 'calling_window', dispatch_due_at: '2026-11-23T03:30:00.000Z' });
    } finally {
      await h.close();
    }
  });
});

describe('a deploy while a vendor hangs up with their last key', () => {
  it('keeps answering through the late keys\' grace: the key counts, and the call settles before the server stops', async () => {
    const h = await startHarness({ SHUTDOWN_DRAIN_SECONDS: '20', LATE_KEYS_GRACE_SECONDS: '5' }, { ringDelayMs: 1_000 });
    try {
      // Exotel's final status first; the keys' request 1 s later, inside the grace (calls/status.ts).
      h.simulator.setFaults({ lateKeysDelayMs: 1_000 });
      const live = await h.trigger(order({ order_id: 'DEPLOY-LATE-KEY', vendor_phone: '9000000019' }));
      expect(live.status).toBe(200);
      const closed = h.app.close();
      const simulated = await h.simulator.finished(live.body.call_sid);
      await closed;
      expect(simulated.problem).toBeUndefined();
      expect(simulated.requests.map((r) => r.status)).toEqual([200, 200]);
      expect(h.app.store.get(live.body.call_id)).toMatchObject({ outcome: 'accepted', status: 'completed', settledAt: expect.any(String) });
    } finally {
      await h.simulator.close();
      h.db.close();
    }
  }, 60_000);
});

describe('the drain with a backlog', () => {
  it('a backlog of queued calls does not hold back the lookup of an unclear Connect, and dials none of them', async () => {
    let t = new Date('2026-11-22T16:30:00.000Z').getTime(); // 22:00 IST
    const h = await startHarness({ CALLING_WINDOW: '09:00-21:00', CALLING_TIMEZONE: 'Asia/Kolkata' }, { now: () => new Date(t) });
    try {
      for (let i = 0; i < 20; i++) expect((await h.trigger(order({ order_id: `BACKLOG-${i}`, vendor_phone: `90004${String(i).padStart(3, '0')}01` }))).status).toBe(202);
      const unclear = await h.trigger(order({ order_id: 'BACKLOG-UNCLEAR', vendor_phone: '9000999901' }));
      const id = unclear.body.call_id as string;
      // Its Connect went out at 09:00:01 and timed out (as dispatch.ts leaves it): a lookup due at 09:00:05.
      h.db.prepare("INSERT INTO attempts (call_id, number, result, error_code, requested_at) VALUES (?, 1, 'unknown', 'EXOTEL_ERR_TIMEOUT', '2026-11-23T03:30:01.000Z')").run(id);
      h.db.prepare("UPDATE calls SET status = 'verifying', current_attempt = 1, dispatch_due_at = '2026-11-23T03:30:05.000Z' WHERE id = ?").run(id);
      // A deploy begins at 09:01:30, with the 20 queued calls (due at 09:00) ahead of it.
      t = new Date('2026-11-23T03:31:30.000Z').getTime();
      const dialledBefore = h.simulator.calls.size;
      h.app.scheduler.stopDialling();
      for (let i = 0; i < 3; i++) await h.app.scheduler.tick();
      // Looked up (Exotel has no such call: it is queued to be dialled again, by the next start), and nobody rung.
      expect(h.app.store.get(id)).toMatchObject({ status: 'queued' });
      expect(h.simulator.calls.size).toBe(dialledBefore);
      expect(dialledBefore).toBe(0);
      expect(h.app.store.dueForDispatch(100).filter((c) => c.orderId.startsWith('BACKLOG-'))).toHaveLength(21);
    } finally {
      await h.close();
    }
  });
});

describe('a deploy while a Voicebot stream is live', () => {
  it('a vendor who asks for an agent during the drain reaches the agent, and the backend is told so', async () => {
    const h = await startHarness({ ...voicebotMode(prompts.dir), AGENT_NUMBER: '9000000020', SHUTDOWN_DRAIN_SECONDS: '30' });
    try {
      h.simulator.installVoicebotRecipe('test-app', {
        streamUrl: h.app.links.applet('voicebot', TOKEN),
        connectUrl: h.app.links.applet('connect', TOKEN),
        passthruUrl: h.app.links.applet('passthru', TOKEN),
        byHand: true,
      });
      const placed = await h.trigger(order({ order_id: 'DEPLOY-AGENT', vendor_phone: '9000000001' }));
      const peer = await h.simulator.streamOf(placed.body.call_sid);
      await new Promise<void>((resolve) => (peer.onPlayed = () => resolve()));
      const closed = h.app.close();
      await new Promise((resolve) => setTimeout(resolve, 200));
      await peer.press('0');
      await peer.closed();
      const simulated = await h.simulator.finished(placed.body.call_sid);
      await closed;
      expect(simulated.problem).toBeUndefined();
      expect(simulated.requests.map((r) => `${new URL(r.url).pathname.split('/').pop()} ${r.status}`)).toEqual(['voicebot 200', 'connect 200', 'passthru 302']);
      expect(simulated.dialled).toEqual([{ number: expect.stringMatching(/9000000020$/), status: 'completed' }]);
      expect(h.app.store.get(placed.body.call_id)).toMatchObject({ outcome: 'transferred', agentStatus: 'completed' });
    } finally {
      await h.simulator.close();
      h.db.close();
    }
  }, 60_000);
});
