// Orders of events the network can produce, each of which once left a call stuck or its outcome wrong.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verify } from '../../src/calls/verify.js';
import { ExotelServerError } from '../../src/errors.js';
import { statusReport } from '../../src/exotel/inbound.js';
import { vendorOrder } from '../../src/flows/vendor-order.js';
import { apologyExoml } from '../../src/transports/exoml.js';
import { storedCall } from '../helpers/calls.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ REDIAL_MAX_ATTEMPTS: '0' });
});
afterAll(async () => h.close());

/** A call whose Connect request timed out: waiting to be verified against Exotel's Calls list. */
function verifyingCall() {
  const call = storedCall(h.app.store, { exotelCallSid: null });
  h.app.store.attemptUnknown(call.id, call.currentAttempt!, 'EXOTEL_ERR_TIMEOUT', 'timeout', new Date('2100-01-01T00:00:00Z'));
  return h.app.store.get(call.id)!;
}

describe('races', () => {
  it('a greeting that arrives while the call is being verified proves the call: no longer verifying, a lookup due', async () => {
    const call = verifyingCall();
    const greeting = await h.app.inject({ method: 'GET', url: `/exoml/vendor-greeting?call=${call.id}&CallSid=racesid0000000000000000000000001` });
    expect(greeting.statusCode).toBe(200);
    const after = h.app.store.get(call.id)!;
    expect(after).toMatchObject({ status: 'in-progress', exotelCallSid: 'racesid0000000000000000000000001', dispatchDueAt: null, reconcileDueAt: expect.any(String) });
    expect(h.app.store.attempts(call.id)[0]).toMatchObject({ exotelCallSid: 'racesid0000000000000000000000001' });
  });

  it('keys that arrive after the call settled change neither the outcome nor what the backend was told', async () => {
    const call = storedCall(h.app.store);
    const callback = await h.app.inject({ method: 'POST', url: `/webhook/exotel/status?call=${call.id}&attempt=1`, payload: { CallSid: call.exotelCallSid!, Status: 'completed' } });
    expect(callback.statusCode).toBe(200);
    // The greeting was never asked for: the vendor never heard the order.
    expect(h.app.store.get(call.id)).toMatchObject({ outcome: 'not_reached', settledAt: expect.any(String) });
    const late = await h.app.inject({ method: 'POST', url: `/exoml/vendor-action?call=${call.id}&turn=1`, payload: { Digits: '1' } });
    expect(late.statusCode).toBe(200);
    // Not "order accepted": the call is over, so the vendor hears the apology and the call ends.
    expect(late.body).toBe(apologyExoml(vendorOrder, 'hi-IN'));
    expect(h.app.store.get(call.id)!.state).toMatchObject({ step: 'menu', turn: 1 });
    expect(h.app.store.get(call.id)).toMatchObject({ outcome: 'not_reached' });
    expect(h.app.outbox.forCall(call.id)[0]!.payload).toMatchObject({ outcome: 'not_reached' });
  });

  it("Exotel's own 'queued' status is a call in flight, not our queue", () => {
    expect(statusReport({ CallSid: 'x', Status: 'queued' }).status).toBe('ringing');
    expect(statusReport({ CallSid: 'x', Status: 'Completed' }).status).toBe('completed');
  });

  it('a restart finds a call whose CallSid came before the Connect answer, and reconciles it instead of dialing again', async () => {
    const call = storedCall(h.app.store, { exotelCallSid: null });
    h.app.store.adopt(call.id, 'racesid0000000000000000000000002');
    h.app.scheduler.recover();
    expect(h.app.store.get(call.id)).toMatchObject({ status: 'in-progress', dispatchDueAt: null, reconcileDueAt: expect.any(String) });
    expect(h.app.store.attempts(call.id)[0]).toMatchObject({ result: 'placed', exotelCallSid: 'racesid0000000000000000000000002' });
  });
});

describe('a status report that comes while an unclear Connect is looked up', () => {
  let v: Harness;
  beforeAll(async () => {
    v = await startHarness({ DISPATCH_MAX_RETRIES: '0', REDIAL_DELAY_SECONDS: '120' });
  });
  afterAll(async () => v.close());

  /** A verifying call whose Calls-list lookup is in flight; `answer` lets the list reply (or fail). */
  async function lookupInFlight() {
    const call = storedCall(v.app.store, { exotelCallSid: null });
    v.app.store.attemptUnknown(call.id, 1, 'EXOTEL_ERR_TIMEOUT', 'timeout', new Date(Date.now() - 1000));
    let answer!: { list: (calls: []) => void; fail: (error: Error) => void };
    const original = v.app.callDeps.exotel.listCalls;
    v.app.callDeps.exotel.listCalls = () => new Promise((list, fail) => (answer = { list, fail }));
    const lookup = verify(v.app.callDeps, call.id).finally(() => (v.app.callDeps.exotel.listCalls = original));
    await new Promise((resolve) => setImmediate(resolve));
    // Exotel's busy callback with CallSid None (reference §13): the vendor's line was busy.
    const busy = await v.app.inject({ method: 'POST', url: `/webhook/exotel/status?call=${call.id}&attempt=1`, payload: 'CallSid=None&Status=busy', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(busy.statusCode).toBe(200);
    // The report proved the dial: the unclear Connect is no failure of the call's any more.
    expect(v.app.store.get(call.id)).toMatchObject({ status: 'queued', redials: 1, settledAt: null, failureReason: null, failureCode: null });
    return { call, answer, lookup };
  }

  it('a list that lags (no such call) does not undo the busy report: the redial stands', async () => {
    const { call, answer, lookup } = await lookupInFlight();
    answer.list([]);
    await lookup;
    expect(v.app.store.get(call.id)).toMatchObject({ status: 'queued', redials: 1, settledAt: null, outcome: 'pending' });
    expect(v.app.outbox.forCall(call.id)).toEqual([]);
  });

  it('a lookup that fails does not give the call up either', async () => {
    const { call, answer, lookup } = await lookupInFlight();
    answer.fail(new ExotelServerError(500));
    await lookup;
    expect(v.app.store.get(call.id)).toMatchObject({ status: 'queued', redials: 1, settledAt: null, outcome: 'pending' });
    expect(v.app.outbox.forCall(call.id)).toEqual([]);
  });
});
