// The queue on a clock the test moves by hand: the rolling per-minute limit under a burst, calling hours,
// and one live call per order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start } from '../../src/flows/engine.js';
import { vendorOrder } from '../../src/flows/vendor-order.js';
import { settle } from '../../src/calls/settle.js';
import { applyStatusReport } from '../../src/calls/status.js';
import { storedCall } from '../helpers/calls.js';
import { order, startHarness, type Harness } from '../helpers/harness.js';


function clock(start: string) {
  let t = new Date(start).getTime();
  return { now: () => new Date(t), advance: (ms: number) => (t += ms), set: (at: string) => (t = new Date(at).getTime()) };
}

/** Runs scheduler ticks until nothing is due at the current time. */
async function settleTicks(h: Harness) {
  for (let i = 0; i < 500; i++) {
    const before = h.app.store.queueDepth();
    await h.app.scheduler.tick();
    if (h.app.store.queueDepth() === before && h.app.store.dueForDispatch(1).length === 0) return;
  }
}

describe('the rolling per-minute limit', () => {
  const time = clock('2026-11-22T06:00:00.000Z'); // 11:30 IST
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ EXOTEL_CALLS_PER_MINUTE: '200' }, { now: time.now });
  });
  afterAll(async () => h.close());

  it('a burst of 1,000 orders never puts more than 200 Connect requests in any 60 s window, and all are dialled', async () => {
    const answers: number[] = [];
    for (let i = 0; i < 1000; i++) {
      // 9000 NNNN 01: a thousand different vendors who all accept (one call at a time goes to each vendor).
      const response = await h.trigger(order({ order_id: `BURST-${i}`, vendor_phone: `9000${String(i).padStart(4, '0')}01` }));
      answers.push(response.status);
      if (i === 200) expect(response.body).toMatchObject({ status: 'queued', reason: 'rate_limit', scheduled_for: '2026-11-22T06:01:00.001Z' });
    }
    expect(answers.filter((s) => s === 200)).toHaveLength(200);
    expect(answers.filter((s) => s === 202)).toHaveLength(800);
    for (let step = 0; step < 400 && h.app.store.queueDepth() > 0; step++) {
      await settleTicks(h);
      time.advance(1_000);
    }
    expect(h.app.store.queueDepth()).toBe(0);
    const times = h.app.ledger.times().map((at) => new Date(at).getTime());
    expect(times).toHaveLength(1000);
    for (let i = 0; i + 200 < times.length; i++) expect(times[i + 200]! - times[i]!).toBeGreaterThan(60_000);
    expect(h.simulator.calls.size).toBe(1000);
    // The last of 1,000 at 200 a minute goes out in the fifth minute.
    expect(times.at(-1)! - times[0]!).toBeGreaterThan(4 * 60_000);
    expect(times.at(-1)! - times[0]!).toBeLessThan(5 * 60_000);
  }, 120_000);
});

describe('calling hours', () => {
  const time = clock('2026-11-22T16:30:00.000Z'); // 22:00 IST
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ CALLING_WINDOW: '09:00-21:00', CALLING_TIMEZONE: 'Asia/Kolkata', REDIAL_DELAY_SECONDS: '120' }, { now: time.now });
  });
  afterAll(async () => h.close());

  it('a request at 22:00 IST waits for 09:00 IST, then is dialled', async () => {
    const response = await h.trigger(order({ order_id: 'NIGHT-1' }));
    expect(response.status).toBe(202);
    expect(response.body).toEqual({
      success: true,
      status: 'queued',
      reason: 'calling_window',
      scheduled_for: '2026-11-23T03:30:00.000Z',
      order_id: 'NIGHT-1',
      call_id: expect.any(String),
    });
    await settleTicks(h);
    expect(h.simulator.calls.size).toBe(0);
    time.set('2026-11-23T03:29:59.000Z');
    await settleTicks(h);
    expect(h.simulator.calls.size).toBe(0);
    time.set('2026-11-23T03:30:00.000Z');
    await settleTicks(h);
    expect(h.simulator.calls.size).toBe(1);
    const call = (await h.get(`/api/calls/${response.body.call_id}`)).body.call;
    expect(call.attempts).toHaveLength(1);
  });

  it('a busy vendor at 20:59 IST is redialled the next morning, not at 21:01', async () => {
    time.set('2026-11-23T15:29:00.000Z'); // 20:59 IST
    const response = await h.trigger(order({ order_id: 'LATE-BUSY', vendor_phone: '9000000007' }));
    expect(response.status).toBe(200);
    await h.simulator.finished(response.body.call_sid);
    const call = (await h.get(`/api/calls/${response.body.call_id}`)).body.call;
    expect(call).toMatchObject({ status: 'queued', outcome: 'pending', redials: 1, scheduled_for: '2026-11-24T03:30:00.000Z' });
  });
});

describe('a CALLING_WINDOW changed across a restart', () => {
  it('a call queued for the old window goes when the new one opens: at once, if it is open now', async () => {
    const time = clock('2026-11-22T16:30:00.000Z'); // 22:00 IST
    const dir = mkdtempSync(join(tmpdir(), 'exotel-caller-window-'));
    const shared = { DATABASE_PATH: join(dir, 'calls.db'), CALLING_TIMEZONE: 'Asia/Kolkata' };
    try {
      const before = await startHarness({ ...shared, CALLING_WINDOW: '09:00-21:00' }, { now: time.now });
      // The service as it ran: its scheduler notes the window it runs with.
      before.app.scheduler.start();
      await before.app.scheduler.stop();
      const queued = await before.trigger(order({ order_id: 'WIDER-1' }));
      expect(queued.body).toMatchObject({ status: 'queued', reason: 'calling_window', scheduled_for: '2026-11-23T03:30:00.000Z' });
      // A call that waits for something else (a redial's delay, a retry's backoff) keeps its time.
      const other = before.app.store.create(
        { flow: 'vendor-order', orderId: 'WIDER-BUSY', phone: '+919000444401', language: 'hi-IN', context: { vendor_name: 'V', order_id: 'WIDER-BUSY', order_amount: 1, items: '' }, state: start(vendorOrder).state, transport: 'exoml' },
        new Date('2026-11-22T17:00:00.000Z'),
      );
      await before.close();

      // Ops open calling round the clock and restart: the call is dialled now, not tomorrow at 09:00.
      const after = await startHarness({ ...shared, CALLING_WINDOW: '00:00-24:00' }, { now: time.now });
      try {
        after.app.scheduler.start();
        const call = await after.settled(queued.body.call_id);
        expect(call).toMatchObject({ outcome: 'accepted', attempts: [{ attempt: 1, result: 'placed' }] });
        expect(after.app.store.get(other.id)).toMatchObject({ status: 'queued', dispatchDueAt: '2026-11-22T17:00:00.000Z' });
      } finally {
        await after.app.scheduler.stop();
        await after.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a restart near closing time', () => {
  it.each([
    ['the same CALLING_WINDOW', '09:00-21:00', '2026-11-23T03:30:00.000Z'],
    // Wider: the redial may go now, but still not sooner than REDIAL_DELAY_SECONDS after the busy signal.
    ['a CALLING_WINDOW open round the clock', '00:00-24:00', '2026-11-22T15:34:30.000Z'],
  ])('with %s, a busy vendor is not redialled before the redial delay', async (_name, window, due) => {
    const time = clock('2026-11-22T15:29:30.000Z'); // 20:59:30 IST
    const dir = mkdtempSync(join(tmpdir(), 'exotel-caller-window-'));
    const shared = { DATABASE_PATH: join(dir, 'calls.db'), CALLING_TIMEZONE: 'Asia/Kolkata', REDIAL_DELAY_SECONDS: '300' };
    try {
      const before = await startHarness({ ...shared, CALLING_WINDOW: '09:00-21:00' }, { now: time.now });
      before.app.scheduler.start();
      await before.app.scheduler.stop();
      const call = storedCall(before.app.store);
      applyStatusReport(before.app.callDeps, call, 1, { callSid: call.exotelCallSid!, status: 'busy', legs: [] }, { kind: 'status_callback', route: 'test', params: {} });
      // Wanted at 21:04:30 IST, when calling is closed: tomorrow at 09:00.
      expect(before.app.store.get(call.id)).toMatchObject({ status: 'queued', waitsFor: 'calling_window', dispatchDueAt: '2026-11-23T03:30:00.000Z' });
      await before.close();
      time.advance(10_000);
      const after = await startHarness({ ...shared, CALLING_WINDOW: window }, { now: time.now });
      try {
        after.app.scheduler.start();
        await after.app.scheduler.stop();
        expect(after.app.store.get(call.id)).toMatchObject({ status: 'queued', dispatchDueAt: due });
        expect(after.app.store.attempts(call.id)).toHaveLength(1);
      } finally {
        await after.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('orders for a vendor on the phone', () => {
  it('wait in the order they came: a new order never goes ahead of one already waiting for the vendor', async () => {
    const time = clock('2026-11-22T06:00:00.000Z');
    const h = await startHarness({}, { now: time.now });
    try {
      const onThePhone = storedCall(h.app.store);
      const vendor = onThePhone.phone.slice(3);
      const first = await h.trigger(order({ order_id: 'FIFO-1', vendor_phone: vendor }));
      expect(first.body).toMatchObject({ status: 'queued', reason: 'vendor_busy', scheduled_for: '2026-11-22T06:00:15.000Z' });
      // That call ends; before FIFO-1's next look, another order comes in.
      h.app.store.transaction(() => settle(h.app.callDeps, onThePhone.id, 'accepted'));
      const second = await h.trigger(order({ order_id: 'FIFO-2', vendor_phone: vendor }));
      expect(second.body).toMatchObject({ status: 'queued', reason: 'vendor_busy' });
      const dialled = () => [...h.simulator.calls.values()].map((c) => c.customField);
      expect(dialled()).toEqual([]);
      // A rate-limit pause (a 429) holds every dial back, but costs FIFO-1 nothing of its place.
      h.app.ledger.pauseUntil(new Date('2026-11-22T06:00:20.000Z'));
      time.set('2026-11-22T06:00:15.000Z');
      await settleTicks(h);
      expect(dialled()).toEqual([]);
      expect(h.app.store.get(first.body.call_id)).toMatchObject({ status: 'queued', waitsFor: 'vendor_busy', dispatchDueAt: '2026-11-22T06:00:20.000Z' });
      // FIFO-1 goes first; FIFO-2 then waits for it.
      time.set('2026-11-22T06:00:20.000Z');
      await settleTicks(h);
      expect(dialled()).toEqual([first.body.call_id]);
      expect(h.app.store.get(second.body.call_id)).toMatchObject({ status: 'queued', exotelCallSid: null });
    } finally {
      await h.close();
    }
  });
});

describe('orders for a vendor on the phone, when Exotel fails a dial', () => {
  it('a dial that placed nothing (a 429) keeps the order its place: the younger order still waits', async () => {
    const time = clock('2026-11-22T06:00:00.000Z');
    const h = await startHarness({ RETRY_BASE_MS: '60000', RETRY_MAX_MS: '120000' }, { now: time.now });
    try {
      const onThePhone = storedCall(h.app.store);
      const vendor = onThePhone.phone.slice(3);
      const first = await h.trigger(order({ order_id: 'FIFO429-1', vendor_phone: vendor }));
      time.advance(5_000);
      const second = await h.trigger(order({ order_id: 'FIFO429-2', vendor_phone: vendor }));
      expect([first.body.reason, second.body.reason]).toEqual(['vendor_busy', 'vendor_busy']);
      h.app.store.transaction(() => settle(h.app.callDeps, onThePhone.id, 'accepted'));
      // FIFO429-1's turn: Exotel answers 429, so it waits for its backoff, still first in the vendor's line.
      h.simulator.setFaults({ connect: ['429'], retryAfterSeconds: 1 });
      time.advance(10_000);
      await h.app.scheduler.tick();
      expect(h.app.store.get(first.body.call_id)).toMatchObject({ status: 'queued', waitsFor: 'vendor_busy', dispatchRetries: 1 });
      time.advance(5_000);
      await h.app.scheduler.tick();
      expect([...h.simulator.calls.values()].filter((c) => c.customField === second.body.call_id)).toEqual([]);
    } finally {
      await h.close();
    }
  });
});

describe('one live call per order', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h.close());

  it('a repeated trigger while the call is live answers the same call and dials nobody new', async () => {
    const first = await h.trigger(order({ order_id: 'DUP-1', vendor_phone: '9000000006' }));
    const again = await h.trigger(order({ order_id: 'DUP-1', vendor_phone: '9000000006' }));
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ success: true, existing: true, call_id: first.body.call_id, call_sid: first.body.call_sid });
    await h.settled(first.body.call_id);
    expect([...h.simulator.calls.values()].filter((c) => c.customField === first.body.call_id)).toHaveLength(1);
  });

  it('triggers racing for one order make one call', async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, () => h.trigger(order({ order_id: 'RACE-1' }))));
    const ids = new Set(answers.map((a) => a.body.call_id));
    expect(ids.size).toBe(1);
    await h.settled([...ids][0]!);
    expect(h.app.store.byOrder('RACE-1')).toHaveLength(1);
  });

  it('an Idempotency-Key answers the same call for 24 h, even after the call finished', async () => {
    const headers = { 'idempotency-key': 'backend-request-42' };
    const first = await h.trigger(order({ order_id: 'IDEM-1' }), headers);
    await h.settled(first.body.call_id);
    const again = await h.trigger(order({ order_id: 'IDEM-1' }), headers);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ existing: true, call_id: first.body.call_id, outcome: 'accepted' });
  });

  it('an Idempotency-Key first answered with the order\'s live call gets that call again after it ended: no second dial', async () => {
    const first = await h.trigger(order({ order_id: 'IDEM-LIVE' }));
    const keyed = { 'idempotency-key': 'backend-request-43' };
    // The backend's recall, sent while the first call is still live: answered with that call.
    const asked = await h.trigger(order({ order_id: 'IDEM-LIVE', recall: 'true' }), keyed);
    expect(asked.body).toMatchObject({ existing: true, call_id: first.body.call_id });
    await h.settled(first.body.call_id);
    // Its answer was lost, so it retries with the same key: the same call, not a new ring.
    const retried = await h.trigger(order({ order_id: 'IDEM-LIVE', recall: 'true' }), keyed);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ existing: true, call_id: first.body.call_id, outcome: 'accepted' });
    expect(h.app.store.byOrder('IDEM-LIVE')).toHaveLength(1);
  });

  it('an Idempotency-Key reused for another order is refused, not answered with the other call', async () => {
    const headers = { 'idempotency-key': 'backend-request-77' };
    const first = await h.trigger(order({ order_id: 'IDEM-2' }), headers);
    await h.settled(first.body.call_id);
    const other = await h.trigger(order({ order_id: 'IDEM-3' }), headers);
    expect(other).toEqual({
      status: 422,
      body: { success: false, code: 'IVR_ERR_IDEMPOTENCY_KEY_REUSED', message: 'This Idempotency-Key was used in the last 24 h for another order or kind of call' },
    });
    expect(h.app.store.byOrder('IDEM-3')).toEqual([]);
  });

  it('a finished order is called again only with recall=true', async () => {
    const first = await h.trigger(order({ order_id: 'RECALL-1' }));
    await h.settled(first.body.call_id);
    const refused = await h.trigger(order({ order_id: 'RECALL-1' }));
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual({
      success: false,
      code: 'IVR_ERR_ALREADY_CALLED',
      message: 'Order RECALL-1 already has a finished call (outcome accepted); send recall=true to call again',
      order_id: 'RECALL-1',
      call_id: first.body.call_id,
    });
    const recalled = await h.trigger(order({ order_id: 'RECALL-1', recall: 'true' }));
    expect(recalled.status).toBe(200);
    expect(recalled.body.call_id).not.toBe(first.body.call_id);
  });
});

describe('a trigger Exotel refused, sent again', () => {
  let h: Harness;
  beforeAll(async () => {
    // Exotel refuses every Connect (401 RestException): the call settles not_reached at once.
    h = await startHarness({ EXOTEL_API_TOKEN: 'not-the-simulators-token' });
  });
  afterAll(async () => h.close());

  it('with the same Idempotency-Key gets the same failure again, not a success it would trust', async () => {
    const headers = { 'idempotency-key': 'backend-request-refused' };
    const first = await h.trigger(order({ order_id: 'IDEM-REFUSED' }), headers);
    expect(first.status).toBe(502);
    expect(first.body).toMatchObject({ success: false, code: 'EXOTEL_ERR_REST', reason: 'exotel_refused', order_id: 'IDEM-REFUSED' });
    const again = await h.trigger(order({ order_id: 'IDEM-REFUSED' }), headers);
    expect(again).toEqual({ status: 502, body: { ...first.body, existing: true } });
    expect(h.app.store.byOrder('IDEM-REFUSED')).toHaveLength(1);
    expect(h.simulator.calls.size).toBe(0);
  });
});

describe('a trigger whose call rang, or was withdrawn, sent again with its Idempotency-Key', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ DISPATCH_MAX_RETRIES: '0' });
  });
  afterAll(async () => h.close());

  it('rang busy, then its redial failed at Exotel: answered as the call that rang (200), not as a refusal', async () => {
    h.simulator.setFaults({ connect: ['ok', '500'] });
    const headers = { 'idempotency-key': 'backend-request-rang' };
    const first = await h.trigger(order({ order_id: 'IDEM-RANG', vendor_phone: '9000000007' }), headers);
    expect(first.body).toMatchObject({ success: true, call_sid: expect.any(String) });
    expect(await h.settled(first.body.call_id)).toMatchObject({ outcome: 'not_reached', redials: 1 });
    const again = await h.trigger(order({ order_id: 'IDEM-RANG', vendor_phone: '9000000007' }), headers);
    expect(again).toMatchObject({ status: 200, body: { success: true, existing: true, call_id: first.body.call_id, outcome: 'not_reached' } });
  });

  it('withdrawn while its Connect was unclear: answered as the withdrawn call', async () => {
    h.simulator.setFaults({ connect: ['lost'], hangMs: 300 });
    const headers = { 'idempotency-key': 'backend-request-withdrawn' };
    const pending = h.trigger(order({ order_id: 'IDEM-WITHDRAWN', vendor_phone: '9000000001' }), headers);
    let id: string | undefined;
    for (let i = 0; i < 200 && !id; i++) {
      id = (h.db.prepare("SELECT id FROM calls WHERE order_id = 'IDEM-WITHDRAWN' AND status = 'dialing'").get() as { id: string } | undefined)?.id;
      if (!id) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect((await h.post(`/api/calls/${id}/withdraw`, {})).status).toBe(202);
    expect((await pending).status).toBe(202);
    h.simulator.setFaults({});
    expect(await h.settled(id!)).toMatchObject({ outcome: 'withdrawn' });
    const again = await h.trigger(order({ order_id: 'IDEM-WITHDRAWN', vendor_phone: '9000000001' }), headers);
    expect(again).toMatchObject({ status: 200, body: { success: true, existing: true, call_id: id, outcome: 'withdrawn' } });
  });
});
