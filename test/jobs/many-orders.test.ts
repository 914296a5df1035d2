// Several hundred orders under the simulated Exotel's faults, on a clock the test moves: every order ends
// with the outcome its vendor gave, delivered to the backend exactly as stored, no attempt dialled twice,
// and never more Connect requests in a rolling minute than the limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend } from '../helpers/backend.js';
import { order, startHarness, type Harness } from '../helpers/harness.js';

const SECRET = 'many-orders-outcome-secret-0123456789';
const LIMIT = 100;
const ORDERS = 300;
// The test numbers and what their vendor's call must end as, whatever the faults.
const VENDORS: Array<[string, string]> = [
  ['9000000001', 'accepted'],
  ['9000000002', 'cancelled'],
  ['9000000003', 'accepted'],
  ['9000000004', 'accepted'],
  ['9000000005', 'accepted'],
  ['9000000006', 'no_response'],
  ['9000000007', 'not_reached'],
  ['9000000008', 'not_reached'],
];

let t = new Date('2026-11-22T05:00:00.000Z').getTime();
let backend: Backend;
let h: Harness;

beforeAll(async () => {
  backend = await startBackend(SECRET);
  h = await startHarness(
    {
      EXOTEL_CALLS_PER_MINUTE: String(LIMIT),
      OUTCOME_WEBHOOK_URL: backend.url,
      OUTCOME_WEBHOOK_SECRET: SECRET,
      EXOTEL_HTTP_TIMEOUT_MS: '400',
      RETRY_BASE_MS: '1000',
      RETRY_MAX_MS: '30000',
      REDIAL_DELAY_SECONDS: '60',
      RECONCILE_AFTER_SECONDS: '120',
      RECONCILE_BACKOFF_SECONDS: '60',
    },
    { now: () => new Date(t) },
  );
  h.simulator.setFaults({
    connectRates: { error500: 0.05, rateLimited: 0.03, hang: 0.03 },
    retryAfterSeconds: 5,
    hangMs: 1_000,
    callbacks: { drop: 0.1, duplicate: 0.1, delayMs: 30 },
    seed: 20261122,
  });
});
afterAll(async () => {
  await h.close();
  await backend.close();
});

describe('several hundred orders under faults', () => {
  it('end as their vendors answered, delivered once each, with no duplicate dial and the limit kept', async () => {
    const callIds: string[] = [];
    const expected = new Map<string, string>();
    backend.down = true; // the backend is down for the first part of the run
    for (let i = 0; i < ORDERS; i++) {
      const [phone, outcome] = VENDORS[i % VENDORS.length]!;
      // 9000 NNNN 0K acts as 9000 0000 0K: a vendor of its own per order, each with the scenario's behaviour.
      const vendor = `9000${String(i).padStart(4, '0')}${phone.slice(-2)}`;
      const response = await h.trigger(order({ order_id: `MANY-${i}`, vendor_phone: vendor }));
      expect([200, 202]).toContain(response.status);
      callIds.push(response.body.call_id);
      expected.set(response.body.call_id, outcome);
    }
    for (let step = 0; step < 4_000; step++) {
      if (step === 300) backend.down = false;
      await h.app.scheduler.tick();
      const done = backend.outcomes.size === ORDERS && h.app.store.queueDepth() === 0;
      if (done) break;
      t += 500;
      await new Promise((r) => setTimeout(r, 2));
    }
    await h.app.scheduler.drain();

    const missing = callIds.filter((id) => !backend.outcomes.has(`outcome_${id}`));
    if (missing.length > 0) {
      const stuck = missing.map((id) => ({ call: h.app.store.get(id), attempts: h.app.store.attempts(id), outbox: h.app.outbox.forCall(id), events: h.app.store.events(id).map((e) => [e.kind, e.params.Status, e.digits]) }));
      console.log(JSON.stringify(stuck, null, 1));
    }
    expect(backend.outcomes.size).toBe(ORDERS);
    for (const id of callIds) {
      const call = (await h.get(`/api/calls/${id}`)).body.call;
      expect(call.outcome, `${id} ${call.vendor_phone}`).toBe(expected.get(id));
      const delivered = backend.outcomes.get(`outcome_${id}`)!;
      // Exactly as stored.
      expect(delivered).toMatchObject({ outcome: call.outcome, status: call.status, prep_time_minutes: call.prep_time_minutes, call_sid: call.call_sid });
      // No attempt dialled twice: one simulated call per attempt that reached Exotel, and per sid one attempt.
      const dialled = [...h.simulator.calls.values()].filter((c) => c.customField === id).map((c) => c.sid).sort();
      const attemptSids = call.attempts.map((a: { call_sid: string | null }) => a.call_sid).filter(Boolean).sort();
      if (JSON.stringify(dialled) !== JSON.stringify(attemptSids)) {
        console.log(JSON.stringify({ call, sims: [...h.simulator.calls.values()].filter((c) => c.customField === id).map((c) => ({ sid: c.sid, created: c.dateCreated, status: c.status, callbacks: c.callbacks.map((x) => x.status) })), events: h.app.store.events(id).map((e) => [e.kind, e.at, e.params.CallSid, e.params.Status]) }, null, 1));
      }
      expect(dialled).toEqual(attemptSids);
      if (call.outcome !== 'not_reached') expect(dialled).toHaveLength(1);
    }
    const accepted = backend.received.filter((r) => r.answered === 200);
    expect(new Set(accepted.map((r) => r.eventId)).size).toBe(accepted.length);
    expect(backend.received.every((r) => r.signatureValid)).toBe(true);
    expect(backend.received.some((r) => r.answered === 503)).toBe(true);

    const times = h.app.ledger.times().map((at) => new Date(at).getTime());
    for (let i = 0; i + LIMIT < times.length; i++) expect(times[i + LIMIT]! - times[i]!).toBeGreaterThan(60_000);
    // The faults did happen.
    for (const fault of ['connect:500', 'connect:429', 'connect:hang', 'callback:dropped', 'callback:duplicated']) {
      expect(h.simulator.injected, fault).toContain(fault);
    }
    const results = callIds.flatMap((id) => h.app.store.attempts(id).map((a) => a.result));
    expect(results).toContain('not_placed');
  }, 240_000);
});
