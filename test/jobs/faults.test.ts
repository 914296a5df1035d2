// Nothing lost, nothing twice, under the simulated Exotel's faults: a Connect that hangs after creating the
// call, refused connections, dropped, duplicated and late callbacks, and a backend that is down for a while.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { promptText } from '../../src/flows/prompts.js';
import { vendorOrder } from '../../src/flows/vendor-order.js';
import { readExoml } from '../../src/simulator/exoml-reader.js';
import { GroupCommitError } from '../../src/store/group-commit.js';
import { request } from 'undici';
import { startBackend, type Backend } from '../helpers/backend.js';
import { dispatch } from '../../src/calls/dispatch.js';
import { applyStatusReport } from '../../src/calls/status.js';
import { settle } from '../../src/calls/settle.js';
import { storedCall, unlistedCall } from '../helpers/calls.js';
import { order, startHarness, type Harness } from '../helpers/harness.js';

const SECRET = 'test-outcome-secret-0123456789abcdef';
let backend: Backend;
let h: Harness;

beforeAll(async () => {
  backend = await startBackend(SECRET);
  h = await startHarness({
    OUTCOME_WEBHOOK_URL: backend.url,
    OUTCOME_WEBHOOK_SECRET: SECRET,
    EXOTEL_HTTP_TIMEOUT_MS: '300',
    RECONCILE_AFTER_SECONDS: '1',
    RECONCILE_BACKOFF_SECONDS: '1',
  });
});
afterAll(async () => {
  await h.close();
  await backend.close();
});
afterEach(() => {
  h.simulator.setFaults({});
  backend.down = false;
  backend.refuse = undefined;
});

async function delivered(eventId: string) {
  for (let i = 0; i < 400 && !backend.outcomes.has(eventId); i++) await new Promise((r) => setTimeout(r, 25));
  return backend.outcomes.get(eventId);
}
const dialsFor = (callId: string, on: Harness = h) => [...on.simulator.calls.values()].filter((c) => c.customField === callId);

/**
 * Exotel's callback for a call's first dial: busy, with CallSid None (seen live, reference §13). A redial is
 * due at once (the server's own loop may have claimed it already).
 */
async function reportBusyWithoutSid(on: Harness, callId: string) {
  const busy = await request(on.app.links.statusCallback(callId, 1), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'CallSid=None&Status=busy',
  });
  expect(busy.statusCode).toBe(200);
  await busy.body.dump();
  expect(on.app.store.get(callId)).toMatchObject({ redials: 1 });
  expect(on.app.store.attempts(callId)[0]).toMatchObject({ number: 1, status: 'busy', exotelCallSid: null });
}

describe('faults', () => {
  it('delivers the settled outcome to the backend, signed, with everything the backend needs', async () => {
    const placed = await h.trigger(order({ order_id: 'OUT-1', vendor_phone: '9000000003' }));
    const call = await h.settled(placed.body.call_id);
    const outcome = await delivered(`outcome_${placed.body.call_id}`);
    expect(outcome).toEqual({
      event_id: `outcome_${placed.body.call_id}`,
      order_id: 'OUT-1',
      call_id: placed.body.call_id,
      call_sid: placed.body.call_sid,
      flow: 'vendor_order',
      outcome: 'accepted',
      prep_time_minutes: 20,
      values: { prep_time_minutes: 20 },
      agent_status: null,
      language: 'hi-IN',
      status: 'completed',
      duration: null, // the callback has none; Call Details fills the call's in later (below)
      recording_url: call.recording_url,
      attempts: 1,
      digits: [
        { step: 'menu', digits: '3' },
        { step: 'prep_time', digits: '20' },
      ],
      failure: null,
      settled_at: call.settled_at,
    });
    expect(backend.received.filter((r) => r.eventId === `outcome_${placed.body.call_id}`).every((r) => r.signatureValid)).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect((await h.get(`/api/calls/${placed.body.call_id}`)).body.call.delivery).toMatchObject({ state: 'delivered', tries: 1 });
  });

  it('a Connect that hangs after creating the call: verified through the Calls list and adopted, never dialled twice', async () => {
    // The phone rings for a second: long after our 300 ms timeout, so the Calls list is what tells us.
    const slow = await startHarness({ EXOTEL_HTTP_TIMEOUT_MS: '300', OUTCOME_WEBHOOK_URL: backend.url, OUTCOME_WEBHOOK_SECRET: SECRET }, { ringDelayMs: 1_000 });
    try {
      slow.simulator.setFaults({ connect: ['hang'], hangMs: 2_000 });
      const placed = await slow.trigger(order({ order_id: 'HANG-1', vendor_phone: '9000000002' }));
      expect(placed.status).toBe(202);
      expect(placed.body).toMatchObject({ status: 'verifying' });
      const call = await slow.settled(placed.body.call_id);
      expect(call).toMatchObject({ outcome: 'cancelled', status: 'completed' });
      expect(call.attempts).toMatchObject([{ attempt: 1, result: 'adopted', call_sid: expect.any(String), error: { code: 'EXOTEL_ERR_TIMEOUT' } }]);
      expect([...slow.simulator.calls.values()].filter((c) => c.customField === placed.body.call_id)).toHaveLength(1);
      expect(await delivered(`outcome_${placed.body.call_id}`)).toMatchObject({ outcome: 'cancelled' });
    } finally {
      await slow.close();
    }
  });

  it('a busy vendor whose Connect hung and whose callback is late is redialled: the Calls list status counts as a callback would', async () => {
    // The vendor is busy at once; the Connect answer never comes in time, and the callback only after the
    // Calls-list lookup (Exotel: callbacks "may be delayed", reference §3.1).
    const slow = await startHarness({ EXOTEL_HTTP_TIMEOUT_MS: '300', REDIAL_MAX_ATTEMPTS: '2', OUTCOME_WEBHOOK_URL: backend.url, OUTCOME_WEBHOOK_SECRET: SECRET });
    try {
      slow.simulator.setFaults({ connect: ['hang'], hangMs: 3_000, callbacks: { drop: 0, duplicate: 0, delayMs: 1_500 } });
      const placed = await slow.trigger(order({ order_id: 'HANG-BUSY', vendor_phone: '9000000007' }));
      expect(placed.body).toMatchObject({ status: 'verifying' });
      const call = await slow.settled(placed.body.call_id);
      const dials = dialsFor(placed.body.call_id, slow);
      expect(call).toMatchObject({ outcome: 'not_reached', status: 'busy', redials: 2 });
      expect(call.attempts).toMatchObject([
        { attempt: 1, result: 'adopted', status: 'busy', call_sid: dials[0]!.sid, error: { code: 'EXOTEL_ERR_TIMEOUT' } },
        { attempt: 2, result: 'placed', status: 'busy', call_sid: dials[1]!.sid, error: null },
        { attempt: 3, result: 'placed', status: 'busy', call_sid: dials[2]!.sid, error: null },
      ]);
      expect(dials).toHaveLength(3);
      const events = (await slow.get(`/api/calls/${placed.body.call_id}?include=events`)).body.call.events;
      expect(events.find((e: { kind: string }) => e.kind === 'calls_list_lookup')).toMatchObject({ route: 'GET Calls.json', params: { Sid: dials[0]!.sid, Status: 'busy' } });
      expect(await delivered(`outcome_${placed.body.call_id}`)).toMatchObject({ outcome: 'not_reached', attempts: 3 });
    } finally {
      await slow.close();
    }
  });

  it('a call we gave up on rings through anyway: the vendor hears the apology, is asked nothing, and the backend keeps not_reached', async () => {
    // The Connect hangs after creating the call, and the Calls list cannot be asked: we cannot learn whether
    // the phone rings, so the call settles not_reached (verify.ts). Then the vendor picks up.
    const slow = await startHarness(
      { EXOTEL_HTTP_TIMEOUT_MS: '300', DISPATCH_MAX_RETRIES: '0', OUTCOME_WEBHOOK_URL: backend.url, OUTCOME_WEBHOOK_SECRET: SECRET },
      { ringDelayMs: 1_500 },
    );
    try {
      slow.simulator.setFaults({ connect: ['hang'], hangMs: 2_000 });
      const placed = await slow.trigger(order({ order_id: 'GAVEUP-1', vendor_phone: '9000000003' }));
      expect(placed.body).toMatchObject({ status: 'verifying' });
      await slow.simulator.refuseConnectionsFor(1_000);
      expect(await delivered(`outcome_${placed.body.call_id}`)).toMatchObject({ outcome: 'not_reached', failure: { code: 'EXOTEL_ERR_UNREACHABLE' } });
      // The vendor's next order waits: that call may be on the line (ring timeout + time limit, at most).
      const next = await slow.trigger(order({ order_id: 'GAVEUP-2', vendor_phone: '9000000003' }));
      expect([next.status, next.body.reason]).toEqual([202, 'vendor_busy']);
      expect(dialsFor(next.body.call_id, slow)).toEqual([]);

      const [dial] = [...slow.simulator.calls.values()].filter((c) => c.customField === placed.body.call_id);
      const sim = await slow.simulator.finished(dial!.sid);
      // This vendor would press 3 and 2 0 #; asked nothing, they press nothing.
      expect(sim.heard).toEqual([promptText(vendorOrder, 'hi-IN', 'apology', {})]);
      expect(sim.pressed).toEqual([]);
      expect(sim.requests.map((r) => readExoml(r.body))).toEqual([
        {
          verbs: [
            { name: 'Say', attrs: { language: 'hi-IN' }, text: promptText(vendorOrder, 'hi-IN', 'apology', {}), children: [] },
            { name: 'Hangup', attrs: {}, text: '', children: [] },
          ],
        },
      ]);
      const read = (await slow.get(`/api/calls/${placed.body.call_id}?include=events`)).body.call;
      expect(read).toMatchObject({ outcome: 'not_reached', prep_time_minutes: null });
      expect(read.events.map((e: { kind: string }) => e.kind)).toContain('exotel_request_after_settled');
      await new Promise((r) => setTimeout(r, 100));
      expect(backend.received.filter((r) => r.eventId === `outcome_${placed.body.call_id}` && r.answered === 200)).toHaveLength(1);

      // Exotel's callback said the call ended: the vendor is free, and the order waiting for them is dialled at
      // its next look (taken here at once, not 15 s later).
      expect(read.attempts).toMatchObject([{ attempt: 1, result: 'adopted', call_sid: dial!.sid, status: 'completed' }]);
      // Once Exotel takes connections again (the simulator's refusal above may outlast the call).
      while (!(await request(slow.simulator.url).then((r) => r.body.dump().then(() => true), () => false))) await new Promise((r) => setTimeout(r, 20));
      expect(await dispatch(slow.app.callDeps, next.body.call_id)).toMatchObject({ kind: 'placed' });
      expect(dialsFor(next.body.call_id, slow)).toHaveLength(1);
    } finally {
      await slow.close();
    }
  });

  it('a Connect that times out and placed nothing is dialled again after Exotel confirms it', async () => {
    const slow = await startHarness({ EXOTEL_HTTP_TIMEOUT_MS: '300' });
    try {
      slow.simulator.setFaults({ connect: ['lost'], hangMs: 2_000 });
      const placed = await slow.trigger(order({ order_id: 'HANG-2', vendor_phone: '9000000001' }));
      expect(placed.body).toMatchObject({ status: 'verifying' });
      const call = await slow.settled(placed.body.call_id);
      expect(call.attempts.map((a: { result: string }) => a.result)).toEqual(['not_placed', 'placed']);
      expect(call.outcome).toBe('accepted');
    } finally {
      await slow.close();
    }
  });

  it.each([
    ['inbound', 'our'],
    ['outbound-dial', 'our'],
    ['outbound-api', 'another'],
  ] as const)(
    'a Connect that placed nothing is not taken for the vendor’s %s call from %s ExoPhone on the list: the vendor is dialled again',
    async (direction, line) => {
      const slow = await startHarness({ EXOTEL_HTTP_TIMEOUT_MS: '300' });
      try {
        // The vendor rang our ExoPhone back, someone dialled them from the dashboard, or another app on the
        // account called them from its own ExoPhone, a moment ago.
        const exophone = line === 'our' ? slow.config.exotel.callerId : '08011112222';
        const other = slow.simulator.addOtherCall('9000000001', direction, exophone);
        slow.simulator.setFaults({ connect: ['lost'], hangMs: 2_000 });
        const placed = await slow.trigger(order({ order_id: `OTHER-${direction}`, vendor_phone: '9000000001' }));
        expect(placed.body).toMatchObject({ status: 'verifying' });
        const call = await slow.settled(placed.body.call_id);
        expect(call.attempts.map((a: { result: string }) => a.result)).toEqual(['not_placed', 'placed']);
        expect(call).toMatchObject({ outcome: 'accepted', status: 'completed' });
        expect(call.call_sid).not.toBe(other.sid);
        expect(call.attempts.map((a: { call_sid: string | null }) => a.call_sid)).not.toContain(other.sid);
      } finally {
        await slow.close();
      }
    },
  );

  it('a 502 with the retries used up is still checked against the Calls list: the ringing call is adopted, not settled not_reached', async () => {
    const tight = await startHarness({ DISPATCH_MAX_RETRIES: '1' });
    try {
      // A 500 that placed nothing uses the one retry; then a gateway answers 502 after Exotel created the call.
      tight.simulator.setFaults({ connect: ['500', 'placed-502'] });
      const placed = await tight.trigger(order({ order_id: 'LAST-502', vendor_phone: '9000000001' }));
      const call = await tight.settled(placed.body.call_id);
      expect(call).toMatchObject({ outcome: 'accepted', status: 'completed' });
      expect(call.attempts.map((a: { result: string }) => a.result)).toEqual(['not_placed', 'adopted']);
      expect(dialsFor(placed.body.call_id, tight)).toHaveLength(1);
    } finally {
      await tight.close();
    }
  });

  it('a call that proves itself while the Calls list is slow is adopted, and the answer the vendor gave stands', async () => {
    const tight = await startHarness({ DISPATCH_MAX_RETRIES: '0' }, { ringDelayMs: 200 });
    try {
      // The list takes 2.5 s; meanwhile the vendor picks up, hears the order and presses 1; the callback comes late.
      tight.simulator.setFaults({ connect: ['placed-502'], listDelayMs: 2_500, callbacks: { drop: 0, duplicate: 0, delayMs: 3_000 } });
      const placed = await tight.trigger(order({ order_id: 'SLOW-LIST-1', vendor_phone: '9000000001' }));
      expect(placed.body).toMatchObject({ status: 'verifying' });
      const call = await tight.settled(placed.body.call_id);
      expect(call).toMatchObject({ outcome: 'accepted', status: 'completed', failure: null, digits: [{ step: 'menu', digits: '1' }] });
      expect(call.attempts).toMatchObject([{ attempt: 1, result: 'adopted', call_sid: dialsFor(placed.body.call_id, tight)[0]!.sid }]);
    } finally {
      await tight.close();
    }
  });

  it('a Calls list that fails with the dial retries used up is asked again, not settled unchecked', async () => {
    // The phone rings only after the lookups, so nothing but the list can tell us the call exists.
    const tight = await startHarness({ DISPATCH_MAX_RETRIES: '1' }, { ringDelayMs: 1_500 });
    try {
      // The first 500 placed nothing (the list says so) and used the one retry; the 502 created the call,
      // and the list fails once before it shows it.
      tight.simulator.setFaults({ connect: ['500', 'placed-502'], list: ['ok', '503'] });
      const placed = await tight.trigger(order({ order_id: 'LIST-503', vendor_phone: '9000000001' }));
      const call = await tight.settled(placed.body.call_id);
      expect(tight.simulator.injected).toContain('list:503');
      expect(call).toMatchObject({ outcome: 'accepted', status: 'completed' });
      expect(call.attempts.map((a: { result: string }) => a.result)).toEqual(['not_placed', 'adopted']);
    } finally {
      await tight.close();
    }
  });

  it('5xx that place nothing end not_reached once the retries are used up, each checked first', async () => {
    const tight = await startHarness({ DISPATCH_MAX_RETRIES: '1' });
    try {
      tight.simulator.setFaults({ connect: ['500', '500'] });
      const placed = await tight.trigger(order({ order_id: 'ALL-500', vendor_phone: '9000000001' }));
      const call = await tight.settled(placed.body.call_id);
      expect(call).toMatchObject({ outcome: 'not_reached', status: 'failed', failure: { code: 'EXOTEL_ERR_SERVER', reason: 'exotel_unavailable' } });
      expect(call.attempts.map((a: { result: string }) => a.result)).toEqual(['not_placed', 'not_placed']);
      expect(tight.simulator.connectTimes).toHaveLength(2);
      expect(dialsFor(placed.body.call_id, tight)).toHaveLength(0);
    } finally {
      await tight.close();
    }
  });

  it('500s and a 429 with Retry-After are retried; the vendor is dialled once', async () => {
    h.simulator.setFaults({ connect: ['500', '429', '500'], retryAfterSeconds: 1 });
    const placed = await h.trigger(order({ order_id: 'RETRY-1' }));
    expect(placed.status).toBe(202);
    const call = await h.settled(placed.body.call_id);
    expect(call.attempts.map((a: { result: string }) => a.result)).toEqual(['not_placed', 'not_placed', 'not_placed', 'placed']);
    expect(dialsFor(placed.body.call_id)).toHaveLength(1);
    expect(call.outcome).toBe('accepted');
    // The 429's Retry-After held every Connect back for a second.
    const times = call.attempts.map((a: { requested_at: string }) => new Date(a.requested_at).getTime());
    expect(times[2] - times[1]).toBeGreaterThanOrEqual(1_000);
  });

  it('refused connections are retried until Exotel is back', async () => {
    await h.simulator.refuseConnectionsFor(300);
    const placed = await h.trigger(order({ order_id: 'REFUSED-1' }));
    expect(placed.status).toBe(202);
    expect(placed.body).toMatchObject({ reason: 'retry', last_error: { code: 'EXOTEL_ERR_UNREACHABLE' } });
    expect(await h.settled(placed.body.call_id)).toMatchObject({ outcome: 'accepted' });
    expect(dialsFor(placed.body.call_id)).toHaveLength(1);
  });

  it('a dropped status callback is made up for by reconciling with Call Details', async () => {
    h.simulator.setFaults({ callbacks: { drop: 1, duplicate: 0, delayMs: 0 } });
    const placed = await h.trigger(order({ order_id: 'DROP-1', vendor_phone: '9000000003' }));
    const sim = await h.simulator.finished(placed.body.call_sid);
    expect(sim.callbacks.map((c) => c.status)).toEqual(['dropped']);
    const call = await h.settled(placed.body.call_id);
    expect(call).toMatchObject({ status: 'completed', outcome: 'accepted', prep_time_minutes: 20, duration: sim.durationSeconds, recording_url: sim.recordingUrl });
    const events = (await h.get(`/api/calls/${placed.body.call_id}?include=events`)).body.call.events;
    expect(events.map((e: { kind: string }) => e.kind)).toContain('reconcile_lookup');
    expect(events.map((e: { kind: string }) => e.kind)).not.toContain('status_callback');
  });

  it("a flow call's callback has no duration: the outcome goes at once, and Call Details fills the duration in", async () => {
    const placed = await h.trigger(order({ order_id: 'NODUR-1', vendor_phone: '9000000001' }));
    const sim = await h.simulator.finished(placed.body.call_sid);
    // What Exotel sends for a call placed with a flow Url and no StatusCallbackEvents (reference §1.5, §3.2).
    expect(Object.keys(sim.callbacks[0]!.params).sort()).toEqual(['CallSid', 'DateUpdated', 'RecordingUrl', 'Status']);
    expect(await delivered(`outcome_${placed.body.call_id}`)).toMatchObject({ outcome: 'accepted', duration: null, recording_url: sim.recordingUrl });
    let call: any;
    for (let i = 0; i < 200 && !(call = (await h.get(`/api/calls/${placed.body.call_id}?include=events`)).body.call).duration; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(call).toMatchObject({ outcome: 'accepted', status: 'completed', duration: sim.durationSeconds, recording_url: sim.recordingUrl });
    expect(call.attempts).toMatchObject([{ attempt: 1, result: 'placed' }]);
    const kinds = call.events.map((e: { kind: string }) => e.kind);
    expect(kinds.filter((k: string) => k === 'details_lookup')).toHaveLength(1);
    const ops = await h.app.inject({ method: 'GET', url: `/ops/calls/${placed.body.call_id}` });
    expect(ops.body).toContain(`Call Details: status completed, ${sim.durationSeconds} s`);
    // Filled: nothing more is asked.
    await new Promise((r) => setTimeout(r, 1_500));
    const later = (await h.get(`/api/calls/${placed.body.call_id}?include=events`)).body.call;
    expect(later.events.filter((e: { kind: string }) => e.kind === 'details_lookup')).toHaveLength(1);
  });

  it('a settled call Call Details does not know (404) is not asked about again: one warning, the duration stays unknown', async () => {
    const lines: string[] = [];
    const forgetful = await startHarness({ RECONCILE_BACKOFF_SECONDS: '1', LOG_LEVEL: 'info' }, { logLines: lines });
    try {
      const placed = await forgetful.trigger(order({ order_id: 'NODUR-404', vendor_phone: '9000000001' }));
      await forgetful.simulator.finished(placed.body.call_sid);
      // As after a restart of the embedded simulator: it no longer has the call.
      forgetful.simulator.calls.delete(placed.body.call_sid);
      const settled = await forgetful.settled(placed.body.call_id);
      expect(settled).toMatchObject({ outcome: 'accepted', duration: null });
      await new Promise((r) => setTimeout(r, 4_000));
      expect(forgetful.app.store.get(placed.body.call_id)).toMatchObject({ reconcileDueAt: null, reconcileTries: 1, durationSeconds: null });
      const mine = lines.map((l) => JSON.parse(l) as { msg: string; level: number; call_id?: string }).filter((l) => l.call_id === placed.body.call_id && l.level >= 40);
      expect(mine.map((l) => [l.level, l.msg])).toEqual([[40, 'Call Details does not know this call: its duration stays unknown']]);
    } finally {
      await forgetful.close();
    }
  });

  it('with StatusCallbackEvents=terminal the callback carries the duration, and Call Details is not asked', async () => {
    const terminal = await startHarness({ EXOTEL_STATUS_CALLBACK_EVENTS: 'terminal', RECONCILE_BACKOFF_SECONDS: '1' });
    try {
      const placed = await terminal.trigger(order({ order_id: 'TERMDUR-1', vendor_phone: '9000000001' }));
      const sim = await terminal.simulator.finished(placed.body.call_sid);
      expect(sim.callbacks[0]!.params).toMatchObject({ EventType: 'terminal', ConversationDuration: String(sim.durationSeconds) });
      expect(await terminal.settled(placed.body.call_id)).toMatchObject({ duration: sim.durationSeconds });
      await new Promise((r) => setTimeout(r, 1_500));
      const call = (await terminal.get(`/api/calls/${placed.body.call_id}?include=events`)).body.call;
      expect(call.events.map((e: { kind: string }) => e.kind)).not.toContain('details_lookup');
    } finally {
      await terminal.close();
    }
  });

  it('duplicated and late callbacks change nothing and deliver one outcome', async () => {
    h.simulator.setFaults({ callbacks: { drop: 0, duplicate: 1, delayMs: 300 } });
    const placed = await h.trigger(order({ order_id: 'DUPCB-1', vendor_phone: '9000000007' }));
    const call = await h.settled(placed.body.call_id);
    expect(call).toMatchObject({ outcome: 'not_reached', status: 'busy', redials: 2 });
    expect(call.attempts.map((a: { status: string }) => a.status)).toEqual(['busy', 'busy', 'busy']);
    await delivered(`outcome_${placed.body.call_id}`);
    await new Promise((r) => setTimeout(r, 400));
    expect(backend.received.filter((r) => r.eventId === `outcome_${placed.body.call_id}` && r.answered === 200)).toHaveLength(1);
  });

  it('a backend that is down gets the outcome once it is up again', async () => {
    backend.down = true;
    const placed = await h.trigger(order({ order_id: 'DOWN-1' }));
    await h.settled(placed.body.call_id);
    for (let i = 0; i < 100 && backend.received.filter((r) => r.eventId === `outcome_${placed.body.call_id}`).length < 3; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const pending = (await h.get(`/api/calls/${placed.body.call_id}`)).body.call.delivery;
    expect(pending).toMatchObject({ state: 'pending', last_error: 'HTTP 503' });
    backend.down = false;
    expect(await delivered(`outcome_${placed.body.call_id}`)).toMatchObject({ outcome: 'accepted', order_id: 'DOWN-1' });
  });

  it("a recalled order's outcomes reach the backend in the order they settled, even when the first one's delivery is retried", async () => {
    const first = await h.trigger(order({ order_id: 'ORDERED-1', vendor_phone: '9000000006' }));
    const firstEvent = `outcome_${first.body.call_id}`;
    // The backend fails the first call's outcome for a while (a deploy, a lock): it is retried with backoff.
    backend.refuse = (body) => body.event_id === firstEvent;
    await h.settled(first.body.call_id);
    for (let i = 0; i < 200 && !backend.received.some((r) => r.eventId === firstEvent); i++) await new Promise((r) => setTimeout(r, 10));
    // The order is called again, and this time the vendor accepts.
    const recalled = await h.trigger(order({ order_id: 'ORDERED-1', vendor_phone: '9000000001', recall: 'true' }));
    const second = await h.settled(recalled.body.call_id);
    const secondEvent = `outcome_${recalled.body.call_id}`;
    expect(second).toMatchObject({ outcome: 'accepted' });
    // While the first outcome is undelivered, the recall's waits behind it.
    await new Promise((r) => setTimeout(r, 300));
    expect(backend.received.filter((r) => r.eventId === secondEvent)).toEqual([]);
    backend.refuse = undefined;
    expect(await delivered(secondEvent)).toMatchObject({ order_id: 'ORDERED-1', call_id: recalled.body.call_id });
    const accepted = backend.received.filter((r) => r.answered === 200 && r.body.order_id === 'ORDERED-1').map((r) => r.eventId);
    expect(accepted).toEqual([firstEvent, secondEvent]);
  });

  it("an outcome the backend refuses (422) is retried without holding back the recall's, and never sent after it unless forced", async () => {
    const first = await h.trigger(order({ order_id: 'BACKEND-REFUSED-1', vendor_phone: '9000000006' }));
    const firstEvent = `outcome_${first.body.call_id}`;
    backend.refuse = (body) => (body.event_id === firstEvent ? 422 : false);
    await h.settled(first.body.call_id);
    for (let i = 0; i < 200 && (h.app.outbox.get(firstEvent)?.tries ?? 0) < 2; i++) await new Promise((r) => setTimeout(r, 10));
    // Refused, and still retried: the backend may take it later.
    expect(h.app.outbox.get(firstEvent)).toMatchObject({ lastError: 'HTTP 422', dueAt: expect.any(String), deadAt: null });
    // The recall's outcome does not wait behind it.
    const recalled = await h.trigger(order({ order_id: 'BACKEND-REFUSED-1', vendor_phone: '9000000001', recall: 'true' }));
    const secondEvent = `outcome_${recalled.body.call_id}`;
    expect(await delivered(secondEvent)).toMatchObject({ order_id: 'BACKEND-REFUSED-1', outcome: 'accepted' });
    // The backend has it; the server records that once the 2xx reaches it, a moment later.
    for (let i = 0; i < 200 && !h.app.outbox.get(secondEvent)?.deliveredAt; i++) await new Promise((r) => setTimeout(r, 10));
    // Once the backend has the recall's, the first is superseded: never sent after it, even once taken.
    expect(h.app.outbox.get(firstEvent)).toMatchObject({ dueAt: null, deadAt: expect.any(String), lastError: `superseded by ${secondEvent}` });
    backend.refuse = undefined;
    await new Promise((r) => setTimeout(r, 300));
    expect(backend.outcomes.has(firstEvent)).toBe(false);
    // Ops asking for it again are told why not, unless they force it.
    expect(h.app.outbox.retry(firstEvent)).toEqual({ due: false, reason: 'superseded', by: secondEvent });
    expect(h.app.outbox.retry(firstEvent, true)).toEqual({ due: true });
    expect(await delivered(firstEvent)).toMatchObject({ outcome: 'no_response' });
    const answers = backend.received.filter((r) => r.body.order_id === 'BACKEND-REFUSED-1').map((r) => [r.eventId === firstEvent ? 'first' : 'recall', r.answered]);
    expect(answers.filter(([, code]) => code === 200)).toEqual([['recall', 200], ['first', 200]]);
    expect(answers.slice(0, answers.findIndex(([who]) => who === 'recall')).every(([who, code]) => who === 'first' && code === 422)).toBe(true);
  });
});

describe('one order, two outcomes to deliver', () => {
  let t = new Date('2026-11-22T06:00:00.000Z').getTime();
  let backendHere: Backend;
  let oh: Harness;
  beforeAll(async () => {
    backendHere = await startBackend(SECRET);
    oh = await startHarness({ OUTCOME_WEBHOOK_URL: backendHere.url, OUTCOME_WEBHOOK_SECRET: SECRET }, { now: () => new Date(t) });
  });
  afterAll(async () => {
    await oh.close();
    await backendHere.close();
  });
  /** A call of this order settled with this outcome; its outcome is due now. */
  const settled = (orderId: string, outcome: 'no_response' | 'accepted') => {
    const call = storedCall(oh.app.store, { orderId });
    oh.app.store.transaction(() => settle(oh.app.callDeps, call.id, outcome));
    return `outcome_${call.id}`;
  };
  const sent = (orderId: string) => backendHere.received.filter((r) => r.body.order_id === orderId).map((r) => [r.eventId, r.answered]);

  it('a refused outcome waits while the later one is still to be delivered (its answer may have been lost), then is superseded', async () => {
    const first = settled('REFUSED-THEN-LOST-1', 'no_response');
    oh.app.outbox.failed(first, 'HTTP 422', new Date(t));
    const recall = settled('REFUSED-THEN-LOST-1', 'accepted');
    // The recall's goes; the backend takes it, but its answer is lost (a gateway's 504).
    backendHere.refuse = (body) => (body.event_id === recall ? 504 : false);
    await oh.app.scheduler.tick();
    expect(sent('REFUSED-THEN-LOST-1')).toEqual([[recall, 504]]);
    // Both are due again: the refused one still waits, so it cannot land after the recall's.
    t += 60_000;
    backendHere.refuse = undefined;
    await oh.app.scheduler.tick();
    expect(sent('REFUSED-THEN-LOST-1')).toEqual([[recall, 504], [recall, 200]]);
    expect(oh.app.outbox.get(first)).toMatchObject({ dueAt: null, deadAt: expect.any(String), lastError: `superseded by ${recall}` });
    t += 60_000;
    await oh.app.scheduler.tick();
    expect(sent('REFUSED-THEN-LOST-1')).toEqual([[recall, 504], [recall, 200]]);
  });

  it('ops sending a refused outcome again (outbox retry) send it now, ahead of the later one still to be delivered', async () => {
    const first = settled('RETRIED-BY-OPS-1', 'no_response');
    oh.app.outbox.failed(first, 'HTTP 422', new Date(t + 3_600_000));
    const recall = settled('RETRIED-BY-OPS-1', 'accepted');
    oh.app.outbox.failed(recall, 'HTTP 503', new Date(t));
    // The backend's team fixed what made it refuse the first, and ops send it again.
    expect(oh.app.outbox.retry(first)).toEqual({ due: true });
    await oh.app.scheduler.tick();
    await oh.app.scheduler.tick();
    expect(sent('RETRIED-BY-OPS-1')).toEqual([[first, 200], [recall, 200]]);
  });

  it('while one outcome of an order is on its way, the next is not sent beside it', async () => {
    // The first was refused before, and is being sent again; the backend is slow to answer it.
    const first = settled('ONE-AT-A-TIME-1', 'no_response');
    oh.app.outbox.failed(first, 'HTTP 409', new Date(t));
    backendHere.slow = (body) => (body.event_id === first ? 300 : 0);
    const firstTick = oh.app.scheduler.tick();
    await new Promise((r) => setTimeout(r, 100));
    // The recall settles meanwhile; a tick while the first is on its way does not send it.
    const recall = settled('ONE-AT-A-TIME-1', 'accepted');
    await oh.app.scheduler.tick();
    expect(backendHere.received.filter((r) => r.eventId === recall)).toEqual([]);
    await firstTick;
    backendHere.slow = undefined;
    await oh.app.scheduler.tick();
    expect(sent('ONE-AT-A-TIME-1')).toEqual([[first, 200], [recall, 200]]);
  });
});

describe('a backend that says when to come back', () => {
  it.each([
    ['429', 429, '120', 120_000],
    ['503', 503, 'HTTP date 5 minutes on', 300_000],
    ['429 asking for a day (at most an hour)', 429, '86400', 3_600_000],
  ] as const)('%s with Retry-After: the outcome is not sent again before then, and is after', async (_name, status, header, waitMs) => {
    let t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const busy = await startBackend(SECRET);
    busy.refuse = () => status;
    busy.retryAfter = header.startsWith('HTTP date') ? new Date(t + 300_000).toUTCString() : header;
    const bh = await startHarness({ OUTCOME_WEBHOOK_URL: busy.url, OUTCOME_WEBHOOK_SECRET: SECRET }, { now: () => new Date(t) });
    try {
      const call = storedCall(bh.app.store, { orderId: `RETRY-AFTER-${status}-${waitMs}` });
      bh.app.store.transaction(() => settle(bh.app.callDeps, call.id, 'accepted'));
      const eventId = `outcome_${call.id}`;
      await bh.app.scheduler.tick();
      expect(bh.app.outbox.get(eventId)).toMatchObject({ tries: 1, lastError: `HTTP ${status}`, dueAt: new Date(t + waitMs).toISOString() });
      busy.refuse = undefined;
      t += waitMs - 1_000;
      await bh.app.scheduler.tick();
      expect(busy.received.filter((r) => r.eventId === eventId)).toHaveLength(1);
      t += 1_000;
      await bh.app.scheduler.tick();
      expect(busy.received.filter((r) => r.eventId === eventId).map((r) => r.answered)).toEqual([status, 200]);
    } finally {
      await bh.close();
      await busy.close();
    }
  });
});

describe('a delivery that keeps failing', () => {
  it('is marked dead after OUTCOME_MAX_AGE_HOURS, shown in read-back and logged, never dropped silently', async () => {
    let t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const down = await startBackend(SECRET);
    down.down = true;
    const dh = await startHarness({ OUTCOME_WEBHOOK_URL: down.url, OUTCOME_WEBHOOK_SECRET: SECRET, OUTCOME_MAX_AGE_HOURS: '1' }, { now: () => new Date(t) });
    try {
      const placed = await dh.trigger(order({ order_id: 'DEAD-1' }));
      await dh.simulator.finished(placed.body.call_sid);
      const eventId = `outcome_${placed.body.call_id}`;
      for (let i = 0; i < 50 && !dh.app.outbox.get(eventId); i++) await new Promise((r) => setTimeout(r, 20));
      await dh.app.scheduler.tick();
      expect(dh.app.outbox.get(eventId)).toMatchObject({ tries: 1, lastError: 'HTTP 503', deadAt: null });
      t += 61 * 60_000;
      await dh.app.scheduler.tick();
      const read = (await dh.get(`/api/calls/${placed.body.call_id}`)).body.call;
      expect(read.delivery).toMatchObject({ state: 'dead', tries: 2, last_error: 'HTTP 503', dead_at: '2026-11-22T07:01:00.000Z' });
      // Ops send it again; the backend fails it once more, and it is retried, not dead at once: its
      // OUTCOME_MAX_AGE_HOURS counts from the retry.
      expect(dh.app.outbox.retry(eventId)).toEqual({ due: true });
      await dh.app.scheduler.tick();
      expect(dh.app.outbox.get(eventId)).toMatchObject({ tries: 3, lastError: 'HTTP 503', deadAt: null, retriedAt: '2026-11-22T07:01:00.000Z' });
      down.down = false;
      t += 10 * 60_000;
      await dh.app.scheduler.tick();
      expect(down.outcomes.get(eventId)).toMatchObject({ outcome: 'accepted' });
      expect(dh.app.outbox.get(eventId)).toMatchObject({ deliveredAt: '2026-11-22T07:11:00.000Z', deadAt: null });
    } finally {
      await dh.close();
      await down.close();
    }
  });
});

describe('a backend that accepts connections and never answers', () => {
  it('holds back only the outcome deliveries: busy vendors are still redialled at once', async () => {
    // Loopback only: a socket that takes the POST and answers nothing (each delivery waits out its 10 s).
    const sockets = new Set<Socket>();
    const hanging = createServer((socket) => void sockets.add(socket.on('data', () => {}).on('close', () => sockets.delete(socket))));
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/outcomes`;
    const hh = await startHarness({ OUTCOME_WEBHOOK_URL: url, OUTCOME_WEBHOOK_SECRET: SECRET });
    try {
      // Twenty settled calls whose outcomes are all waiting on that backend.
      const first = await Promise.all(Array.from({ length: 20 }, (_, i) => hh.trigger(order({ order_id: `HUNG-${i}`, vendor_phone: `9000${String(6000 + i)}01` }))));
      await Promise.all(first.map((placed) => hh.settled(placed.body.call_id)));
      for (let i = 0; i < 100 && sockets.size < 8; i++) await new Promise((r) => setTimeout(r, 20));
      // Eight deliveries at once, though twelve more wait and the first eight hang.
      expect(sockets.size).toBe(8);
      // Busy vendors: each redial is the scheduler's work, and must not wait for a delivery's 10 s.
      const started = Date.now();
      const busy = await Promise.all(Array.from({ length: 5 }, (_, i) => hh.trigger(order({ order_id: `BUSY-HUNG-${i}`, vendor_phone: `9000${String(7000 + i)}07` }))));
      const settled = await Promise.all(busy.map((placed) => hh.settled(placed.body.call_id)));
      expect(settled.map((c) => [c.outcome, c.redials])).toEqual(Array(5).fill(['not_reached', 2]));
      expect(Date.now() - started).toBeLessThan(5_000);
      // At most eight deliveries at a time, however many are waiting.
      expect(sockets.size).toBeLessThanOrEqual(8);
    } finally {
      for (const socket of sockets) socket.destroy();
      await hh.close();
      await new Promise((resolve) => hanging.close(resolve));
    }
  });
});

describe('a Connect answer that could not be stored', () => {
  it('is found again while the server runs: verified, adopted and settled, never left dialing, never dialled twice', async () => {
    let t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const hh = await startHarness({ REDIAL_MAX_ATTEMPTS: '0', EXOTEL_HTTP_TIMEOUT_MS: '1000' }, { now: () => new Date(t) });
    try {
      // The vendor does not answer and Exotel's callback is lost, so nothing of Exotel's comes to rescue it.
      hh.simulator.setFaults({ callbacks: { drop: 1, duplicate: 0, delayMs: 0 } });
      // The disk fails once, just as the Connect answer is being stored.
      const store = hh.app.store;
      const attemptPlaced = store.attemptPlaced.bind(store);
      store.attemptPlaced = () => {
        store.attemptPlaced = attemptPlaced;
        throw new GroupCommitError('the group commit failed: disk I/O error');
      };
      const placed = await hh.trigger(order({ order_id: 'LOST-ANSWER-1', vendor_phone: '9000000008' }));
      expect(placed.status).toBe(500);
      const [call] = store.byOrder('LOST-ANSWER-1');
      expect(store.attempts(call!.id)).toMatchObject([{ number: 1, result: 'sent' }]);
      const dials = [...hh.simulator.calls.values()].filter((c) => c.customField === call!.id);
      expect(dials).toHaveLength(1);
      await hh.simulator.finished(dials[0]!.sid);

      // Before a Connect could still be answered, nothing is touched.
      t += 30_000;
      await hh.app.scheduler.tick();
      expect(store.get(call!.id)).toMatchObject({ status: 'dialing' });
      // After it, the scheduler asks Exotel's Calls list, adopts the call and looks it up.
      t += 61_000;
      for (let i = 0; i < 5; i++) await hh.app.scheduler.tick();
      const read = (await hh.get(`/api/calls/${call!.id}`)).body.call;
      expect(read).toMatchObject({ status: 'no-answer', outcome: 'not_reached', call_sid: dials[0]!.sid });
      expect(read.attempts).toMatchObject([{ attempt: 1, result: 'adopted', call_sid: dials[0]!.sid }]);
      expect([...hh.simulator.calls.values()].filter((c) => c.customField === call!.id)).toHaveLength(1);
    } finally {
      await hh.close();
    }
  });
});

describe('a restart while a Connect is out', () => {
  it('asks the Calls list about the Connect in flight only once it would have timed out, then dials again only if nothing came of it', async () => {
    let t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const hh = await startHarness({ EXOTEL_HTTP_TIMEOUT_MS: '10000' }, { now: () => new Date(t) });
    try {
      // The last process claimed the attempt, sent its Connect and died; systemd starts this one 2 s later.
      const call = storedCall(hh.app.store, { exotelCallSid: null });
      t += 2_000;
      hh.app.scheduler.recover();
      // Exotel may still be creating that call, so its Calls list would not show it yet: the lookup waits for
      // the client's timeout and a backoff, as it would after a timeout while running.
      const due = hh.app.store.get(call.id)!;
      expect(due.status).toBe('verifying');
      expect(due.dispatchDueAt! > '2026-11-22T06:00:10.000Z' && due.dispatchDueAt! <= '2026-11-22T06:00:12.000Z', due.dispatchDueAt!).toBe(true);
      for (let i = 0; i < 3; i++) await hh.app.scheduler.tick();
      expect(dialsFor(call.id, hh)).toHaveLength(0);
      expect(hh.app.store.attempts(call.id)).toMatchObject([{ number: 1, result: 'unknown' }]);
      // Then the Calls list is asked; it shows no call, so the vendor is dialled again, once.
      t = new Date('2026-11-22T06:00:12.000Z').getTime();
      for (let i = 0; i < 5 && dialsFor(call.id, hh).length === 0; i++) await hh.app.scheduler.tick();
      expect(hh.app.store.attempts(call.id)).toMatchObject([{ number: 1, result: 'not_placed' }, { number: 2, result: 'placed' }]);
      expect(dialsFor(call.id, hh)).toHaveLength(1);
    } finally {
      await hh.close();
    }
  });

  it('a call queued for a dial retry whose earlier attempt did ring is not dialled again, and settles on that attempt', async () => {
    let t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const hh = await startHarness({}, { now: () => new Date(t) });
    try {
      // Exotel's list did not show attempt 1 yet, so it counted as not placed and a retry is due later...
      const call = unlistedCall(hh.app.store, new Date(t + 60_000));
      expect(hh.app.store.get(call.id)).toMatchObject({ status: 'queued', dispatchDueAt: '2026-11-22T06:01:00.000Z' });
      // ...but it did ring: the vendor hears the greeting. Its CallSid proves the call: the retry is off.
      const sid = 'sidqueuedretryrang00000000000001';
      await hh.app.inject({ method: 'GET', url: `/exoml/vendor-greeting?call=${call.id}&CallSid=${sid}` });
      expect(hh.app.store.get(call.id)).toMatchObject({ status: 'in-progress', exotelCallSid: sid, dispatchDueAt: null, failureReason: null, reconcileDueAt: expect.any(String) });
      expect(hh.app.store.attempts(call.id).map((a) => [a.number, a.result, a.exotelCallSid])).toEqual([[1, 'adopted', sid]]);
      // Past the retry's old due time, with the vendor still on the line: nothing is dialled.
      t += 90_000;
      await hh.app.scheduler.tick();
      expect(dialsFor(call.id, hh)).toEqual([]);
      expect(hh.app.store.attempts(call.id)).toHaveLength(1);
      // The vendor hangs up with the question open: settled after the late-keys grace, on attempt 1.
      await hh.app.inject({ method: 'POST', url: `/webhook/exotel/status?call=${call.id}&attempt=1`, payload: { CallSid: sid, Status: 'completed' } });
      t += 2_000;
      await hh.app.scheduler.tick();
      expect(hh.app.store.get(call.id)).toMatchObject({ outcome: 'no_response', status: 'completed', dispatchDueAt: null, settledAt: expect.any(String) });
      expect(hh.app.outbox.forCall(call.id)[0]!.payload).toMatchObject({ outcome: 'no_response', status: 'completed', call_sid: sid, attempts: 1, failure: null });
      expect(hh.app.store.attempts(call.id)).toHaveLength(1);
    } finally {
      await hh.close();
    }
  });

  it("the vendor's next order waits while a call to be dialled again may still ring (the Calls list may lag), then goes after it", async () => {
    let t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const hh = await startHarness({}, { now: () => new Date(t) });
    try {
      // Order A's Connect timed out and the Calls list did not show the call: A is to be dialled again.
      const a = unlistedCall(hh.app.store, new Date(t + 5_000));
      const phone = a.phone.slice(3);
      // Order B for the same vendor: not dialled beside A's call, which may be ringing.
      const b = await hh.trigger(order({ order_id: 'LAG-B', vendor_phone: phone }));
      expect([b.status, b.body.reason]).toEqual([202, 'vendor_busy']);
      expect(dialsFor(b.body.call_id, hh)).toEqual([]);
      // A goes first (B, only queued, holds nothing back), and B keeps waiting while A is on the line.
      t += 5_000;
      await hh.app.scheduler.tick();
      expect(dialsFor(a.id, hh)).toHaveLength(1);
      t += 15_000;
      await hh.app.scheduler.tick();
      expect(dialsFor(b.body.call_id, hh)).toEqual([]);
      expect(hh.app.store.get(b.body.call_id)).toMatchObject({ status: 'queued', exotelCallSid: null });
    } finally {
      await hh.close();
    }
  });

  it('an older order waiting for its redial is not dialled while a younger one of its vendor may still ring', async () => {
    const t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const hh = await startHarness({ REDIAL_DELAY_SECONDS: '0' }, { now: () => new Date(t) });
    try {
      // Order B (older): rang, the vendor was busy, a redial is due.
      const b = storedCall(hh.app.store);
      applyStatusReport(hh.app.callDeps, b, 1, { callSid: b.exotelCallSid!, status: 'busy', legs: [] }, { kind: 'status_callback', route: 'test', params: {} });
      expect(hh.app.store.get(b.id)).toMatchObject({ status: 'queued', redials: 1 });
      // Order A (younger): dialled meanwhile; its Connect timed out and the Calls list did not show the call.
      const a = unlistedCall(hh.app.store, new Date(t), { phone: b.phone });
      await hh.app.scheduler.tick();
      // A's first dial may be ringing: A is dialled again (or adopted), B waits for it.
      expect([dialsFor(b.id, hh).length, dialsFor(a.id, hh).length]).toEqual([0, 1]);
      expect(hh.app.store.get(b.id)).toMatchObject({ status: 'queued', waitsFor: 'vendor_busy' });
    } finally {
      await hh.close();
    }
  });

  it.each([
    ['its dial-again meets a 429 and waits for its backoff', { RETRY_BASE_MS: '60000', RETRY_MAX_MS: '120000' }, '9000222201', ['429']],
    ['its dial-again finds the vendor busy (the first dial may be why) and waits for a redial', { REDIAL_DELAY_SECONDS: '120' }, '9000222207', []],
  ] as const)("a dial the Calls list did not show holds the vendor's next order while it may ring, even when %s", async (_name, env, phone, connect) => {
    let t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const hh = await startHarness(env, { now: () => new Date(t) });
    try {
      const a = storedCall(hh.app.store, { exotelCallSid: null, phone: `+91${phone}` });
      hh.app.store.attemptNotPlaced(a.id, 1, 'EXOTEL_ERR_TIMEOUT', 'Exotel has no such call: dialing again', new Date(t));
      const b = await hh.trigger(order({ order_id: `MAYRING-${phone}`, vendor_phone: phone }));
      expect([b.status, b.body.reason]).toEqual([202, 'vendor_busy']);
      hh.simulator.setFaults({ connect: [...connect], retryAfterSeconds: 1 });
      await hh.app.scheduler.tick();
      for (let i = 0; i < 200 && hh.app.store.get(a.id)!.status !== 'queued'; i++) await new Promise((r) => setTimeout(r, 25));
      expect(hh.app.store.get(a.id)).toMatchObject({ status: 'queued' });
      // B's next look, 15 s on: A's first dial may still ring (ring timeout + time limit), so B waits.
      t += 15_000;
      await hh.app.scheduler.tick();
      expect(dialsFor(b.body.call_id, hh)).toEqual([]);
      expect(hh.app.store.get(b.body.call_id)).toMatchObject({ status: 'queued', waitsFor: 'vendor_busy' });
    } finally {
      await hh.close();
    }
  });

  it('a dial the Calls list did not show holds the next order even when its call gave up (retries used up); a completed dial-again frees the vendor', async () => {
    const t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const hh = await startHarness({ DISPATCH_MAX_RETRIES: '0' }, { now: () => new Date(t) });
    try {
      const a = storedCall(hh.app.store, { exotelCallSid: null });
      hh.app.store.attemptUnknown(a.id, 1, 'EXOTEL_ERR_TIMEOUT', 'timed out', new Date(t));
      await hh.app.scheduler.tick();
      expect(hh.app.store.get(a.id)).toMatchObject({ status: 'failed', failureReason: 'exotel_unavailable' });
      const b = await hh.trigger(order({ order_id: 'MAYRING-GAVEUP', vendor_phone: a.phone.slice(3) }));
      expect([b.status, b.body.reason]).toEqual([202, 'vendor_busy']);

      // Another vendor: the dial-again completed (the vendor took that call), so their next order goes at once.
      const c = unlistedCall(hh.app.store, new Date(t));
      expect(hh.app.store.claimForDial(c.id, () => {})).toBe(2);
      hh.app.store.attemptPlaced(c.id, 2, 'sidcompleteddialagain00000000001', 'in-progress', new Date(t + 60_000));
      await hh.app.inject({ method: 'POST', url: `/webhook/exotel/status?call=${c.id}&attempt=2`, payload: { CallSid: 'sidcompleteddialagain00000000001', Status: 'completed' } });
      const d = await hh.trigger(order({ order_id: 'MAYRING-FREED', vendor_phone: c.phone.slice(3) }));
      expect(d.status).toBe(200);
    } finally {
      await hh.close();
    }
  });

  it('a dial the Calls list did not show, proven live later by an answered callback, holds the vendor: neither its order nor the next dials again', async () => {
    let t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const hh = await startHarness({ RETRY_BASE_MS: '60000', RETRY_MAX_MS: '120000', EXOTEL_STATUS_CALLBACK_EVENTS: 'terminal,answered' }, { now: () => new Date(t) });
    try {
      const a = storedCall(hh.app.store, { exotelCallSid: null });
      // Attempt 1: an ambiguous Connect the Calls list did not show; attempt 2: a 429, waiting for its backoff.
      hh.app.store.attemptNotPlaced(a.id, 1, 'EXOTEL_ERR_TIMEOUT', 'Exotel has no such call: dialing again', new Date(t));
      expect(hh.app.store.claimForDial(a.id, () => {})).toBe(2);
      hh.app.store.attemptNotPlaced(a.id, 2, 'EXOTEL_ERR_RATE_LIMITED', 'rate limited', new Date(t + 60_000));
      const b = await hh.trigger(order({ order_id: 'PROVEN-B', vendor_phone: a.phone.slice(3) }));
      expect([b.status, b.body.reason]).toEqual([202, 'vendor_busy']);
      // Attempt 1 did place a call after all: Exotel's answered callback for it, with its CallSid.
      const sid = 'sidattempt1answeredlate0000000001';
      await hh.app.inject({ method: 'POST', url: `/webhook/exotel/status?call=${a.id}&attempt=1`, payload: { CallSid: sid, Status: 'in-progress' } });
      expect(hh.app.store.attempts(a.id)[0]).toMatchObject({ result: 'adopted', status: 'in-progress' });
      // The vendor is on attempt 1's call: B's look at 15 s and A's own backoff at 75 s dial nobody.
      t += 15_000;
      await hh.app.scheduler.tick();
      t += 60_000;
      await hh.app.scheduler.tick();
      expect([dialsFor(a.id, hh).length, dialsFor(b.body.call_id, hh).length]).toEqual([0, 0]);
      await hh.app.inject({ method: 'POST', url: `/webhook/exotel/status?call=${a.id}&attempt=1`, payload: { CallSid: sid, Status: 'completed' } });
      // That call ends: A (the older order, waiting for its vendor now) is dialled at its next look, B after it.
      t += 15_000;
      await hh.app.scheduler.tick();
      expect([dialsFor(a.id, hh).length, dialsFor(b.body.call_id, hh).length]).toEqual([1, 0]);
    } finally {
      await hh.close();
    }
  });

  it('two calls to one vendor both to be dialled again never wait on each other: the older one is dialled', async () => {
    const t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const hh = await startHarness({}, { now: () => new Date(t) });
    try {
      const older = storedCall(hh.app.store, { exotelCallSid: null });
      const newer = unlistedCall(hh.app.store, new Date(t), { phone: older.phone });
      hh.app.store.attemptNotPlaced(older.id, 1, 'EXOTEL_ERR_TIMEOUT', 'Exotel has no such call: dialing again', new Date(t));
      await hh.app.scheduler.tick();
      expect([dialsFor(older.id, hh).length, dialsFor(newer.id, hh).length]).toEqual([1, 0]);
      expect(hh.app.store.get(newer.id)).toMatchObject({ status: 'queued', dispatchDueAt: expect.any(String) });
    } finally {
      await hh.close();
    }
  });

  it('a late final report about the earlier dial changes nothing on the redial in flight', async () => {
    const t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const hh = await startHarness({ REDIAL_DELAY_SECONDS: '60' }, { now: () => new Date(t) });
    const report = async (attempt: number, fields: Record<string, string>) => {
      const answer = await request(hh.app.links.statusCallback(call.id, attempt), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields).toString(),
      });
      expect(answer.statusCode).toBe(200);
      await answer.body.dump();
    };
    const first = 'sidlatereportfirst00000000000001';
    const second = 'sidlatereportsecond0000000000001';
    // Attempt 1's Connect got no answer, and Exotel's list showed no call: counted as not placed, dialled again.
    const call = storedCall(hh.app.store, { exotelCallSid: null });
    try {
      hh.app.store.attemptNotPlaced(call.id, 1, 'EXOTEL_ERR_TIMEOUT', 'Exotel has no such call: dialing again', new Date(0));
      expect(hh.app.store.claimForDial(call.id, () => {})).toBe(2);
      hh.app.store.attemptPlaced(call.id, 2, second, 'ringing', new Date(t + 300_000));
      // Then attempt 1's own final report after all, late: stored on attempt 1 only, never on the call.
      await report(1, { CallSid: first, Status: 'completed', ConversationDuration: '9' });
      expect(hh.app.store.get(call.id)).toMatchObject({ currentAttempt: 2, exotelCallSid: second, status: 'ringing', outcome: 'pending', settledAt: null, durationSeconds: null });
      expect(hh.app.store.attempts(call.id).map((a) => [a.number, a.exotelCallSid, a.status])).toEqual([[1, first, 'completed'], [2, second, null]]);
      // The vendor on attempt 2 answers: that call's keys and its own final report decide.
      await hh.app.inject({ method: 'GET', url: `/exoml/vendor-greeting?call=${call.id}&CallSid=${second}` });
      await hh.app.inject({ method: 'POST', url: `/exoml/vendor-action?call=${call.id}&turn=1`, payload: { Digits: '2' } });
      await report(2, { CallSid: second, Status: 'completed' });
      expect(hh.app.store.get(call.id)).toMatchObject({ outcome: 'cancelled', status: 'completed', settledAt: expect.any(String) });
      expect(hh.app.outbox.forCall(call.id).map((o) => [o.eventId, o.payload.outcome])).toEqual([[`outcome_${call.id}`, 'cancelled']]);
    } finally {
      await hh.close();
    }
  });

  it('an earlier attempt whose answer was lost never turns the redial in flight into a second dial', async () => {
    let t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const hh = await startHarness({ EXOTEL_HTTP_TIMEOUT_MS: '2000', REDIAL_DELAY_SECONDS: '60' }, { now: () => new Date(t) });
    try {
      // Attempt 1's busy callback comes before its Connect answer, without a CallSid (reference §13)...
      const call = storedCall(hh.app.store, { exotelCallSid: null });
      const busy = await request(`${hh.baseUrl}/webhook/exotel/status?call=${call.id}&attempt=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'Status=busy&CallSid=None',
      });
      expect(busy.statusCode).toBe(200);
      await busy.body.dump();
      // ...which proves attempt 1 placed a call, and a redial is due.
      expect(hh.app.store.attempts(call.id)).toMatchObject([{ number: 1, result: 'adopted', status: 'busy' }]);
      expect(hh.app.store.get(call.id)).toMatchObject({ status: 'queued' });
      // The redial is claimed and its Connect is out (never answered here), long after attempt 1.
      t += 10 * 60_000;
      hh.app.store.reschedule(call.id, new Date(0));
      expect(hh.app.store.claimForDial(call.id, () => {})).toBe(2);
      // The running stale check a moment later leaves the fresh Connect alone.
      t += 30_000;
      hh.app.scheduler.recover(new Date(t - 62_000));
      expect(hh.app.store.get(call.id)).toMatchObject({ status: 'dialing', currentAttempt: 2 });
      expect(hh.app.store.attempts(call.id).map((a) => [a.number, a.result])).toEqual([[1, 'adopted'], [2, 'sent']]);
    } finally {
      await hh.close();
    }
  });
});

describe('a redial whose Connect is ambiguous too', () => {
  it.each([
    ['5 s', 5_000],
    // At the lookup window's start: the list (whole seconds) shows the earlier dial, which is 60.5 s older.
    ['60.5 s', 60_500],
  ])("%s after the earlier dial Exotel reported without a CallSid, is matched to its own call in the Calls list, not to that one: the vendor is never rung twice at once", async (_gap, gapMs) => {
    let t = new Date('2026-11-23T06:00:00.000Z').getTime();
    const hh = await startHarness({ REDIAL_DELAY_SECONDS: '5', REDIAL_MAX_ATTEMPTS: '2' }, { now: () => new Date(t), ringDelayMs: 1_000 });
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      // Both Connects create their call but answer 502; the simulator's own callbacks are lost.
      hh.simulator.setFaults({ connect: ['placed-502', 'placed-502', 'ok'], callbacks: { drop: 1, duplicate: 0, delayMs: 0 } });
      const placed = await hh.trigger(order({ order_id: 'ORDER-REDIAL-502', vendor_phone: '9000400007' })); // busy
      expect(placed.body).toMatchObject({ status: 'verifying' });
      const id = placed.body.call_id as string;
      const [first] = dialsFor(id, hh);
      await sleep(1_300);
      expect(first!.status).toBe('busy');
      // Exotel's callback for dial 1 says busy with CallSid None (reference §13): a redial is due, dial 1's sid unknown.
      await reportBusyWithoutSid(hh, id);
      // The redial (due 5 s on, on this test's clock): its Connect answers 502 too, and its call rings.
      t += gapMs;
      await hh.app.scheduler.tick();
      await hh.app.scheduler.drain();
      const second = dialsFor(id, hh).find((c) => c.sid !== first!.sid)!;
      expect([second.status, hh.app.store.get(id)!.status]).toEqual(['in-progress', 'verifying']);
      // Its lookup: the Calls list shows both, dial 1 (busy) first. Dial 2 is this attempt's.
      t += 1_000;
      await hh.app.scheduler.tick();
      await hh.app.scheduler.drain();
      await hh.app.scheduler.tick();
      await hh.app.scheduler.drain();
      expect(hh.app.store.attempts(id).map((a) => [a.number, a.exotelCallSid, a.result])).toEqual([
        [1, null, 'adopted'],
        [2, second.sid, 'adopted'],
      ]);
      expect(hh.app.store.get(id)).toMatchObject({ exotelCallSid: second.sid, currentAttempt: 2, outcome: 'pending' });
      expect(dialsFor(id, hh)).toHaveLength(2);
    } finally {
      await hh.close();
    }
  });
});

describe('a Connect answered only after its redial was claimed', () => {
  it('changes nothing on the redial in flight: not turned to a lookup, the vendor not dialled a third time', async () => {
    const hh = await startHarness({ REDIAL_DELAY_SECONDS: '0', EXOTEL_HTTP_TIMEOUT_MS: '3000' }, { ringDelayMs: 10_000 });
    try {
      // Both Connects hang past our timeout (each creates its call); Exotel's own callbacks are lost.
      hh.simulator.setFaults({ connect: ['hang', 'hang'], hangMs: 5_000, callbacks: { drop: 1, duplicate: 0, delayMs: 0 } });
      const triggered = hh.trigger(order({ order_id: 'ORDER-STALE-CONNECT', vendor_phone: '9000400007' }));
      await vi.waitFor(() => expect(hh.simulator.calls.size).toBe(1));
      const id = [...hh.simulator.calls.values()][0]!.customField!;
      // 1.5 s into its Connect, Exotel reports dial 1 busy with CallSid None (reference §13): a redial is due now.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await reportBusyWithoutSid(hh, id);
      const redial = hh.app.scheduler.tick();
      await vi.waitFor(() => expect(hh.app.store.get(id)).toMatchObject({ status: 'dialing', currentAttempt: 2 }));
      // Dial 1's Connect times out now, while dial 2's is still out.
      expect((await triggered).status).toBeLessThan(300);
      expect(hh.app.store.get(id)).toMatchObject({ status: 'dialing', currentAttempt: 2 });
      expect(hh.app.store.attempts(id).map((a) => [a.number, a.result, a.status, a.errorCode])).toEqual([
        [1, 'adopted', 'busy', 'EXOTEL_ERR_TIMEOUT'],
        [2, 'sent', null, null],
      ]);
      // Dial 2's own timeout: its lookup finds its call (after dial 1's), adopted. Two dials in all.
      await redial;
      await vi.waitFor(async () => {
        await hh.app.scheduler.tick();
        expect(hh.app.store.attempts(id)[1]).toMatchObject({ result: 'adopted', exotelCallSid: dialsFor(id, hh)[1]!.sid });
      }, { timeout: 8_000, interval: 200 });
      expect(dialsFor(id, hh)).toHaveLength(2);
    } finally {
      await hh.close();
    }
  });
});

describe('a call Exotel never reports the end of', () => {
  it('whose CallSid never reached us (a ringing report with CallSid None, the Connect answer lost): found in the Calls list and settled, never dialled twice', async () => {
    const slow = await startHarness(
      { EXOTEL_HTTP_TIMEOUT_MS: '500', RECONCILE_AFTER_SECONDS: '1', RECONCILE_BACKOFF_SECONDS: '1', REDIAL_MAX_ATTEMPTS: '0', OUTCOME_WEBHOOK_URL: backend.url, OUTCOME_WEBHOOK_SECRET: SECRET },
      { ringDelayMs: 200 },
    );
    try {
      // The Connect hangs after creating the call, and the final callback is lost (reference §3.1).
      slow.simulator.setFaults({ connect: ['hang'], hangMs: 2_000, callbacks: { drop: 1, duplicate: 0, delayMs: 0 } });
      const triggered = slow.trigger(order({ order_id: 'SIDLESS-1', vendor_phone: '9000000008' }));
      let dial: { customField: string | undefined; sid: string } | undefined;
      for (let i = 0; i < 100 && !dial; i++) {
        dial = [...slow.simulator.calls.values()].find((c) => c.customField !== undefined && slow.app.store.get(c.customField)?.orderId === 'SIDLESS-1');
        if (!dial) await new Promise((r) => setTimeout(r, 5));
      }
      const callId = dial!.customField!;
      // While the Connect is out, Exotel reports the call ringing, without a usable CallSid (reference §13).
      const status = new URL(slow.app.links.statusCallback(callId, 1));
      const ringing = await request(`${slow.baseUrl}${status.pathname}${status.search}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'Status=ringing&CallSid=None',
      });
      expect(ringing.statusCode).toBe(200);
      await ringing.body.dump();
      expect((await triggered).status).toBe(202);
      const call = await slow.settled(callId);
      expect(call).toMatchObject({ outcome: 'not_reached', status: 'no-answer', call_sid: dial!.sid });
      expect(call.attempts).toMatchObject([{ attempt: 1, call_sid: dial!.sid, status: 'no-answer' }]);
      expect(dialsFor(callId, slow)).toHaveLength(1);
      expect(await delivered(`outcome_${callId}`)).toMatchObject({ outcome: 'not_reached', status: 'no-answer' });
      // The vendor is free for the next order.
      expect(slow.app.store.vendorInFlight('+919000000008', 'call_other', new Date(0))).toBe(false);
    } finally {
      await slow.close();
    }
  });

  /**
   * A harness on a clock the test moves. `lookUp` runs the reconciler on a call now; `lookUpHourly` does so
   * on each call an hour apart, as many times as the reconciler tries before it gives up.
   */
  async function onClock(test: (on: { hh: Harness; later: (ms: number) => void; lookUp: (id: string) => Promise<void>; lookUpHourly: (ids: string[]) => Promise<void> }) => Promise<void>) {
    let t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const hh = await startHarness({}, { now: () => new Date(t) });
    const { reconcile } = await import('../../src/jobs/reconciler.js');
    const lookUp = (id: string) => reconcile(hh.app.callDeps, hh.app.store.get(id)!);
    const later = (ms: number) => void (t += ms);
    const lookUpHourly = async (ids: string[]) => {
      for (let i = 0; i < 5; i++) {
        later(3_600_000);
        for (const id of ids) await lookUp(id);
      }
    };
    try {
      await test({ hh, later, lookUp, lookUpHourly });
    } finally {
      await hh.close();
    }
  }

  it('nor answers a lookup about: settled not_reached if nobody picked up, no_response if the vendor heard the question', async () => {
    await onClock(async ({ hh, lookUpHourly }) => {
      // Both Connects answered in-progress, as Exotel does before anyone picks up (reference §1.6); Call
      // Details knows neither sid (404), so no lookup ever says how they ended.
      const unanswered = storedCall(hh.app.store);
      const answered = storedCall(hh.app.store);
      await hh.app.inject({ method: 'GET', url: `/exoml/vendor-greeting?call=${answered.id}` });
      await lookUpHourly([unanswered.id, answered.id]);
      expect(hh.app.store.get(unanswered.id)).toMatchObject({ outcome: 'not_reached', failureReason: 'no_final_status' });
      expect(hh.app.store.get(answered.id)).toMatchObject({ outcome: 'no_response', failureReason: 'no_final_status' });
    });
  });

  it('whose last lookup says completed with a question open: settled with that status after the grace, not as no final status', async () => {
    await onClock(async ({ hh, later, lookUp, lookUpHourly }) => {
      const { ExotelServerError } = await import('../../src/errors.js');
      const call = storedCall(hh.app.store);
      await hh.app.inject({ method: 'GET', url: `/exoml/vendor-greeting?call=${call.id}` });
      // Call Details fails four times (Exotel's 503), then has the call, completed.
      let lookups = 0;
      hh.app.callDeps.exotel.callDetails = async (sid: string) => {
        if (++lookups < 5) throw new ExotelServerError(503);
        return { sid, status: 'completed', duration: 31, raw: {} };
      };
      await lookUpHourly([call.id]);
      expect(hh.app.store.get(call.id)).toMatchObject({ status: 'completed', settledAt: null });
      later(10_000);
      await lookUp(call.id);
      expect(hh.app.store.get(call.id)).toMatchObject({ outcome: 'no_response', status: 'completed', durationSeconds: 31, failureReason: null });
    });
  });
});
