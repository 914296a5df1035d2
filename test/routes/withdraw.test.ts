// POST /api/calls/:call_sid/withdraw: an order cancelled while its call waits (calling hours, a redial, a
// busy vendor) must not ring the vendor later. Through the simulator over loopback, on a clock moved by hand.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend } from '../helpers/backend.js';
import { storedCall } from '../helpers/calls.js';
import { APPLET_MODE, order, startHarness, type Harness } from '../helpers/harness.js';

const APOLOGY = 'क्षमा करें, तकनीकी समस्या के कारण कॉल समाप्त की जा रही है। हम आपसे फिर संपर्क करेंगे।';

const SECRET = 'withdraw-test-outcome-secret-0123456789';
const TOKEN = 'withdraw-test-api-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}` };

function clock(start: string) {
  let t = new Date(start).getTime();
  return { now: () => new Date(t), advance: (ms: number) => (t += ms), set: (at: string) => (t = new Date(at).getTime()) };
}

/** Scheduler ticks until nothing more is due now (dials, outcome deliveries). */
async function ticks(h: Harness, n = 20) {
  for (let i = 0; i < n; i++) await h.app.scheduler.tick();
}

const row = (h: Harness, id: string) =>
  h.db.prepare('SELECT status, outcome, settled_at, dispatch_due_at, current_attempt FROM calls WHERE id = ?').get(id) as Record<string, unknown>;

describe('withdrawing a call that waits to be dialled', () => {
  const time = clock('2026-11-22T16:30:00.000Z'); // 22:00 IST
  let h: Harness;
  let backend: Backend;
  beforeAll(async () => {
    backend = await startBackend(SECRET);
    h = await startHarness(
      { API_TOKEN: TOKEN, CALLING_WINDOW: '09:00-21:00', CALLING_TIMEZONE: 'Asia/Kolkata', REDIAL_DELAY_SECONDS: '120', OUTCOME_WEBHOOK_URL: backend.url, OUTCOME_WEBHOOK_SECRET: SECRET },
      { now: time.now },
    );
  });
  afterAll(async () => {
    await h.close();
    await backend.close();
  });

  it('a call queued at night for 09:00, withdrawn, is never dialled, and the backend hears withdrawn once', async () => {
    const queued = await h.trigger(order({ order_id: 'WITHDRAW-NIGHT' }), auth);
    expect(queued.status).toBe(202);
    const id = queued.body.call_id as string;

    const withdrawn = await h.post(`/api/calls/${id}/withdraw`, { reason: 'order cancelled by the customer' }, auth);
    expect(withdrawn.status).toBe(200);
    expect(withdrawn.body).toMatchObject({
      success: true,
      call: {
        call_id: id,
        call_sid: null,
        order_id: 'WITHDRAW-NIGHT',
        status: 'queued',
        outcome: 'withdrawn',
        attempts: [],
        scheduled_for: null,
        settled_at: '2026-11-22T16:30:00.000Z',
        delivery: { event_id: `outcome_${id}`, state: 'pending', tries: 0 },
      },
    });
    expect(withdrawn.body.existing).toBeUndefined();
    expect(row(h, id)).toEqual({ status: 'queued', outcome: 'withdrawn', settled_at: '2026-11-22T16:30:00.000Z', dispatch_due_at: null, current_attempt: null });
    const events = h.app.store.events(id);
    expect(events.map((e) => [e.kind, e.params])).toEqual([['withdrawn', { reason: 'order cancelled by the customer' }]]);
    // Ops see it on the call's page, and in the settled calls by outcome.
    const page = await h.app.inject({ method: 'GET', url: `/ops/calls/${id}`, headers: auth });
    expect(page.body).toContain('<td id="outcome" class="outcome">withdrawn</td>');
    expect(page.body).toContain('<td>Withdrawn by the backend: order cancelled by the customer</td><td><code>withdrawn</code></td>');
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics', headers: auth })).body;
    expect(metrics).toContain('exotel_caller_calls_total{flow="vendor_order",outcome="withdrawn"} 1');

    // 09:00 IST and well after: nothing rings; the outcome reaches the backend once.
    time.set('2026-11-23T03:30:00.000Z');
    await ticks(h);
    time.advance(3_600_000);
    await ticks(h);
    expect(h.simulator.calls.size).toBe(0);
    expect(h.app.ledger.times()).toEqual([]);
    expect(backend.received.filter((r) => r.eventId === `outcome_${id}`)).toHaveLength(1);
    expect(backend.outcomes.get(`outcome_${id}`)).toMatchObject({ event_id: `outcome_${id}`, order_id: 'WITHDRAW-NIGHT', call_id: id, outcome: 'withdrawn', attempts: 0, call_sid: null });

    // A repeat (the backend's retry after a lost answer) changes nothing and sends nothing more.
    const again = await h.post(`/api/calls/${id}/withdraw`, undefined, auth);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ success: true, existing: true, call: { call_id: id, outcome: 'withdrawn', delivery: { state: 'delivered' } } });
    await ticks(h);
    expect(backend.received.filter((r) => r.eventId === `outcome_${id}`)).toHaveLength(1);

    // The order can be called again on purpose, as after any finished call.
    const recalled = await h.trigger(order({ order_id: 'WITHDRAW-NIGHT' }), auth);
    expect(recalled.body).toMatchObject({ code: 'IVR_ERR_ALREADY_CALLED', call_id: id });
  });

  it('a busy vendor queued for a redial, withdrawn, is not dialled again', async () => {
    time.set('2026-11-23T06:00:00.000Z'); // 11:30 IST
    const placed = await h.trigger(order({ order_id: 'WITHDRAW-REDIAL', vendor_phone: '9000000007' }), auth);
    expect(placed.status).toBe(200);
    await h.simulator.finished(placed.body.call_sid);
    const id = placed.body.call_id as string;
    expect(row(h, id)).toMatchObject({ status: 'queued', outcome: 'pending', dispatch_due_at: '2026-11-23T06:02:00.000Z' });
    const dialledBefore = h.simulator.calls.size;

    const withdrawn = await h.post(`/api/calls/${id}/withdraw`, undefined, auth);
    expect(withdrawn.status).toBe(200);
    expect(withdrawn.body.call).toMatchObject({ outcome: 'withdrawn', redials: 1, scheduled_for: null, attempts: [{ attempt: 1, status: 'busy', result: 'placed' }] });
    time.advance(10 * 60_000);
    await ticks(h);
    expect(h.simulator.calls.size).toBe(dialledBefore);
    expect(backend.outcomes.get(`outcome_${id}`)).toMatchObject({ outcome: 'withdrawn', attempts: 1, status: 'queued' });
    // Each status on the timeline says which dial it was about.
    const page = (await h.app.inject({ method: 'GET', url: `/ops/calls/${id}`, headers: auth })).body;
    expect(page).toContain('<td>Exotel: status busy (dial 1)</td>');
  });
});

describe('what cannot be withdrawn', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ API_TOKEN: TOKEN }, { ringDelayMs: 600 });
  });
  afterAll(async () => h.close());

  it('a call whose vendor has answered stands (409), before it settles too', async () => {
    const call = storedCall(h.app.store);
    h.app.store.saveTurn({ callId: call.id, kind: 'exotel_request', route: '/exoml/vendor-action', step: 'menu', digits: '1', params: {} }, { ...call.state, outcome: 'accepted' }, { kind: 'end', outcome: 'accepted', say: ['accepted'] });
    const refused = await h.post(`/api/calls/${call.id}/withdraw`, { reason: 'too late' }, auth);
    expect(refused).toEqual({
      status: 409,
      body: {
        success: false,
        code: 'IVR_ERR_ALREADY_SETTLED',
        message: `The vendor has answered call ${call.id} already (outcome accepted): it stands, and is sent when the call ends`,
        call_id: call.id,
        outcome: 'accepted',
      },
    });
    expect(h.app.store.events(call.id).some((e) => e.kind.startsWith('withdraw'))).toBe(false);
    expect(h.app.store.get(call.id)!.withdrawRequestedAt).toBeNull();
  });

  it('a settled call stands (409); the order waiting behind it for the same vendor can be withdrawn', async () => {
    const first = await h.trigger(order({ order_id: 'WITHDRAW-LIVE-1', vendor_phone: '9000000001' }), auth);
    expect(first.status).toBe(200);
    const second = await h.trigger(order({ order_id: 'WITHDRAW-LIVE-2', vendor_phone: '9000000001' }), auth);
    expect(second.body).toMatchObject({ status: 'queued', reason: 'vendor_busy' });

    const behind = await h.post(`/api/calls/${second.body.call_id}/withdraw`, {}, auth);
    expect(behind.status).toBe(200);
    expect(behind.body.call).toMatchObject({ outcome: 'withdrawn', attempts: [] });

    // The first call ends as the vendor chose; the second is never dialled.
    expect(await h.settled(first.body.call_id, auth)).toMatchObject({ outcome: 'accepted' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect([...h.simulator.calls.values()].filter((c) => c.customField === second.body.call_id || c.customField === first.body.call_id)).toHaveLength(1);
    expect(row(h, second.body.call_id)).toMatchObject({ outcome: 'withdrawn', dispatch_due_at: null, current_attempt: null });

    const settled = await h.post(`/api/calls/${first.body.call_id}/withdraw`, undefined, auth);
    expect(settled.status).toBe(409);
    expect(settled.body).toEqual({
      success: false,
      code: 'IVR_ERR_ALREADY_SETTLED',
      message: `Call ${first.body.call_id} is settled already (outcome accepted): nothing to withdraw`,
      call_id: first.body.call_id,
      outcome: 'accepted',
    });
  });

  it('bad requests get a clear 4xx and change nothing', async () => {
    expect((await h.post('/api/calls/nosuchcall/withdraw', undefined, auth))).toEqual({
      status: 404,
      body: { success: false, code: 'IVR_ERR_NOT_FOUND', message: 'No call nosuchcall' },
    });
    expect((await h.post(`/api/calls/${'x'.repeat(65)}/withdraw`, undefined, auth)).body).toMatchObject({ code: 'IVR_ERR_VALIDATION', field: 'call_sid' });
    expect((await h.post('/api/calls/anything/withdraw', undefined, {})).status).toBe(401);

    const queued = await h.trigger(order({ order_id: 'WITHDRAW-BAD', vendor_phone: '9000000001' }), auth);
    const id = queued.body.call_id as string;
    const control = await h.post(`/api/calls/${id}/withdraw`, { reason: 'bad\u0007bell' }, auth);
    expect(control).toEqual({ status: 400, body: { success: false, code: 'IVR_ERR_VALIDATION', field: 'reason', message: 'reason must not contain control characters' } });
    const long = await h.post(`/api/calls/${id}/withdraw`, { reason: 'x'.repeat(201) }, auth);
    expect(long.body).toMatchObject({ code: 'IVR_ERR_VALIDATION', field: 'reason' });
    expect(h.app.store.events(id).some((e) => e.kind === 'withdrawn')).toBe(false);
    expect(h.app.store.get(id)!.outcome).not.toBe('withdrawn');
  });
});

describe('a call that has just ended', () => {
  it('settles withdrawn at once while its outcome waits for late keys; the keys change nothing', async () => {
    const h = await startHarness({ API_TOKEN: TOKEN, LATE_KEYS_GRACE_SECONDS: '5' });
    try {
      // Presses 1 as they hang up: Exotel's final status first, the key 1.5 s later.
      h.simulator.setFaults({ lateKeysDelayMs: 1_500 });
      const placed = await h.trigger(order({ order_id: 'WITHDRAW-ENDED', vendor_phone: '9000000019' }), auth);
      const id = placed.body.call_id as string;
      for (let i = 0; i < 200 && h.app.store.get(id)!.status !== 'completed'; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      const withdrawn = await h.post(`/api/calls/${id}/withdraw`, undefined, auth);
      expect(withdrawn.status).toBe(200);
      expect(withdrawn.body.call).toMatchObject({ status: 'completed', outcome: 'withdrawn' });
      // Its duration and recording are still looked up in Call Details, as for any call that settles completed.
      expect(h.app.store.get(id)).toMatchObject({ durationSeconds: null, reconcileDueAt: expect.any(String) });
      await h.simulator.finished(placed.body.call_sid);
      for (let i = 0; i < 300 && !h.app.store.events(id).some((e) => e.digits === '1'); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(h.app.store.events(id).find((e) => e.digits === '1')).toMatchObject({ kind: 'exotel_request_after_settled' });
      expect(h.app.store.get(id)).toMatchObject({ outcome: 'withdrawn' });
      expect(h.app.outbox.forCall(id).map((o) => o.payload.outcome)).toEqual(['withdrawn']);
    } finally {
      await h.close();
    }
  });
});

describe('a call with a dial out', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ API_TOKEN: TOKEN, REDIAL_DELAY_SECONDS: '0' }, { ringDelayMs: 400 });
  });
  afterAll(async () => h.close());
  const dialsOf = (id: string) => [...h.simulator.calls.values()].filter((c) => c.customField === id);

  it('ringing, withdrawn (202), then busy or no answer: never dialled again, settled withdrawn', async () => {
    const placed = await h.trigger(order({ order_id: 'WITHDRAW-RING', vendor_phone: '9000000008' }), auth); // does not answer
    expect(placed.status).toBe(200);
    const id = placed.body.call_id as string;
    const requested = await h.post(`/api/calls/${id}/withdraw`, { reason: 'customer cancelled' }, auth);
    expect(requested.status).toBe(202);
    expect(requested.body).toMatchObject({ success: true, withdraw_requested: true, call: { call_id: id, outcome: 'pending', withdraw_requested_at: expect.any(String) } });
    const again = await h.post(`/api/calls/${id}/withdraw`, {}, auth);
    expect([again.status, again.body.existing]).toEqual([202, true]);
    expect(await h.settled(id, auth)).toMatchObject({ outcome: 'withdrawn', status: 'no-answer', redials: 0 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await h.app.scheduler.tick();
    expect(dialsOf(id)).toHaveLength(1);
    expect(h.app.store.events(id).filter((e) => e.kind === 'withdraw_requested').map((e) => e.params)).toEqual([{ reason: 'customer cancelled' }]);
    expect(h.app.outbox.forCall(id).map((o) => o.payload.outcome)).toEqual(['withdrawn']);
    const page = await h.app.inject({ method: 'GET', url: `/ops/calls/${id}`, headers: auth });
    expect(page.body).toContain('<td>Withdrawn by the backend while a dial was out: customer cancelled</td><td><code>withdraw_requested</code></td>');
  });

  it('a new trigger for the order while the withdrawn dial rings is refused (409), not answered with a call that only apologises', async () => {
    const first = await h.trigger(order({ order_id: 'WITHDRAW-AGAIN', vendor_phone: '9000000008' }), { ...auth, 'idempotency-key': 'withdraw-again-first' });
    const id = first.body.call_id as string;
    expect((await h.post(`/api/calls/${id}/withdraw`, {}, auth)).status).toBe(202);
    const again = await h.trigger(order({ order_id: 'WITHDRAW-AGAIN', vendor_phone: '9000000008', recall: true }), { ...auth, 'idempotency-key': 'withdraw-again-second' });
    expect(again).toEqual({
      status: 409,
      body: {
        success: false,
        code: 'IVR_ERR_WITHDRAW_PENDING',
        message: "Order WITHDRAW-AGAIN's call was withdrawn and its dial has not ended yet; send this again with recall=true once that call has settled",
        order_id: 'WITHDRAW-AGAIN',
        call_id: id,
      },
    });
    // The first request's retry still gets its own call; the refused key is bound to nothing.
    const retried = await h.trigger(order({ order_id: 'WITHDRAW-AGAIN', vendor_phone: '9000000008' }), { ...auth, 'idempotency-key': 'withdraw-again-first' });
    expect(retried.body).toMatchObject({ existing: true, call_id: id });
    expect(await h.settled(id, auth)).toMatchObject({ outcome: 'withdrawn' });
    const after = await h.trigger(order({ order_id: 'WITHDRAW-AGAIN', vendor_phone: '9000000008', recall: true }), { ...auth, 'idempotency-key': 'withdraw-again-second' });
    expect(after.status).toBe(200);
    expect(after.body.call_id).not.toBe(id);
    expect(after.body.existing).toBeUndefined();
    expect(dialsOf(after.body.call_id)).toHaveLength(1);
    // Ended here, so its redials do not take the next test's Connect faults.
    expect((await h.post(`/api/calls/${after.body.call_id}/withdraw`, {}, auth)).status).toBe(202);
    expect(await h.settled(after.body.call_id, auth)).toMatchObject({ outcome: 'withdrawn' });
  });

  it('a vendor who answers after the withdraw hears the apology, not the order; their key changes nothing', async () => {
    const placed = await h.trigger(order({ order_id: 'WITHDRAW-ANSWER', vendor_phone: '9000000001' }), auth); // presses 1
    const id = placed.body.call_id as string;
    expect((await h.post(`/api/calls/${id}/withdraw`, {}, auth)).status).toBe(202);
    expect(await h.settled(id, auth)).toMatchObject({ outcome: 'withdrawn', status: 'completed' });
    const said = h.app.store.events(id).filter((e) => e.said).map((e) => e.said!.reply);
    expect(said).toEqual([{ kind: 'end', outcome: 'withdrawn', say: ['apology'] }]);
    // What the vendor heard: the apology only, never the order, its menu or "accepted".
    expect(h.simulator.calls.get(placed.body.call_sid)!.heard).toEqual([APOLOGY]);
    expect(h.simulator.calls.get(placed.body.call_sid)!.pressed).toEqual([]);
    expect(dialsOf(id)).toHaveLength(1);
  });

  it('an unclear Connect (dialling, then looked up) withdrawn: no fresh dial when the list shows no call', async () => {
    h.simulator.setFaults({ connect: ['lost'], hangMs: 300 });
    const pending = h.trigger(order({ order_id: 'WITHDRAW-DIAL', vendor_phone: '9000000001' }), auth);
    let id: string | undefined;
    for (let i = 0; i < 200 && !id; i++) {
      id = (h.db.prepare("SELECT id FROM calls WHERE order_id = 'WITHDRAW-DIAL' AND status = 'dialing'").get() as { id: string } | undefined)?.id;
      if (!id) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect((await h.post(`/api/calls/${id}/withdraw`, {}, auth)).status).toBe(202);
    expect((await pending).status).toBe(202);
    h.simulator.setFaults({});
    expect(await h.settled(id!, auth)).toMatchObject({ outcome: 'withdrawn', attempts: [{ attempt: 1, result: 'not_placed' }] });
    expect(dialsOf(id!)).toHaveLength(0);
  });
});

describe('what a vendor on the line hears after the withdraw', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ ...APPLET_MODE, API_TOKEN: TOKEN });
  });
  afterAll(async () => h.close());
  const applet = (name: string, query: string) => h.app.inject({ method: 'GET', url: `/applet/${APPLET_MODE.APPLET_PATH_TOKEN}/${name}?${query}` });

  it('applet mode: the Gather fetched again after a wrong key gets the apology, not the menu; the keys after it count for nothing', async () => {
    const sid = 'sidwithdrawapplet000000000000001';
    const call = storedCall(h.app.store, { transport: 'applet', exotelCallSid: sid });
    expect((await applet('gather', `CallSid=${sid}`)).json().gather_prompt.text).toContain('स्वीकार करने के लिए 1 दबाएं');
    expect((await applet('passthru', `CallSid=${sid}&digits=%227%22`)).statusCode).toBe(200);
    expect((await h.post(`/api/calls/${call.id}/withdraw`, {}, auth)).status).toBe(202);
    // Exotel fetches the question again: the stored re-ask ("press 1 to accept") must not play.
    const again = (await applet('gather', `CallSid=${sid}`)).json();
    expect(again.gather_prompt).toEqual({ text: APOLOGY });
    // A key pressed at it changes nothing: not in the outcome's digits, marked on the timeline.
    expect((await applet('passthru', `CallSid=${sid}&digits=%221%22`)).statusCode).toBe(302);
    const status = await h.app.inject({ method: 'POST', url: `/webhook/exotel/status?call=${call.id}&attempt=1`, payload: { CallSid: sid, Status: 'completed' } });
    expect(status.statusCode).toBe(200);
    expect(h.app.store.get(call.id)).toMatchObject({ outcome: 'withdrawn', settledAt: expect.any(String) });
    expect(h.app.outbox.forCall(call.id)[0]!.payload).toMatchObject({ outcome: 'withdrawn', digits: [{ step: 'menu', digits: '7' }] });
    const read = (await h.get(`/api/calls/${call.id}?include=events`, auth)).body.call;
    expect(read.events.filter((e: { kind: string }) => e.kind === 'exotel_request_after_withdraw').map((e: { note: string }) => e.note)).toEqual([
      'after the backend withdrew the call: the apology, changed nothing',
    ]);
  });

  it("applet mode: Exotel's HEAD probe of the Greeting of a withdrawn call has the headers of the GET after it (the apology)", async () => {
    const sid = 'sidwithdrawapplethead00000000001';
    const call = storedCall(h.app.store, { transport: 'applet', exotelCallSid: sid });
    expect((await applet('gather', `CallSid=${sid}`)).statusCode).toBe(200);
    expect((await h.post(`/api/calls/${call.id}/withdraw`, {}, auth)).status).toBe(202);
    const url = `/applet/${APPLET_MODE.APPLET_PATH_TOKEN}/greeting?CallSid=${sid}`;
    const head = await h.app.inject({ method: 'HEAD', url });
    const gatherHead = await h.app.inject({ method: 'HEAD', url: `/applet/${APPLET_MODE.APPLET_PATH_TOKEN}/gather?CallSid=${sid}` });
    const get = await applet('greeting', `CallSid=${sid}`);
    expect(get.body).toBe(APOLOGY);
    expect([head.statusCode, head.headers['content-length'], head.headers['content-type']]).toEqual([200, get.headers['content-length'], get.headers['content-type']]);
    const gatherGet = await applet('gather', `CallSid=${sid}`);
    expect(gatherGet.json().gather_prompt).toEqual({ text: APOLOGY });
    expect(gatherHead.headers['content-length']).toBe(gatherGet.headers['content-length']);
  });

  it('a call that ended its conversation in silence (no_response) while still on the line can be withdrawn', async () => {
    const call = storedCall(h.app.store, { transport: 'applet' });
    h.app.store.saveTurn({ callId: call.id, kind: 'exotel_request', route: '/applet/passthru', step: 'menu', params: {} }, { ...call.state, outcome: 'no_response' }, { kind: 'end', outcome: 'no_response', say: ['no_response'] });
    expect((await h.post(`/api/calls/${call.id}/withdraw`, {}, auth)).status).toBe(202);
    await h.app.inject({ method: 'POST', url: `/webhook/exotel/status?call=${call.id}&attempt=1`, payload: { CallSid: call.exotelCallSid!, Status: 'completed' } });
    expect(h.app.store.get(call.id)).toMatchObject({ outcome: 'withdrawn' });
  });

  it('a 429 on the Connect of a call withdrawn meanwhile still holds the next Connect back', async () => {
    h.simulator.setFaults({ connect: ['429'], retryAfterSeconds: 120 });
    const connect = h.app.callDeps.exotel.connect.bind(h.app.callDeps.exotel);
    h.app.callDeps.exotel.connect = async (request) => {
      h.app.store.requestWithdraw(request.customField!);
      return connect(request);
    };
    try {
      const first = await h.trigger(order({ order_id: 'WITHDRAW-429', vendor_phone: '9000000001' }), auth);
      expect(h.app.store.get(first.body.call_id)).toMatchObject({ outcome: 'withdrawn' });
    } finally {
      h.app.callDeps.exotel.connect = connect;
      h.simulator.setFaults({});
    }
    const next = await h.trigger(order({ order_id: 'WITHDRAW-429-NEXT', vendor_phone: '9000000002' }), auth);
    expect(next.body).toMatchObject({ status: 'queued', reason: 'rate_limit' });
  });
});
