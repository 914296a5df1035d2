// Every simulated vendor behaviour as a whole call over loopback: the backend's trigger, the simulated
// Exotel dialling and playing our ExoML, the status callback, and what the backend reads back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { order, startHarness, type Harness } from '../helpers/harness.js';

// The Hindi the vendor hears, written out here so a changed prompt fails a test.
const HEARD = {
  intro: 'नमस्ते Test Vendor जी! आपके लिए एक नया ऑर्डर है। ऑर्डर नंबर ORD-TEST-1। राशि 550 रुपये। सामान: Tomato 2kg।',
  menu: 'ऑर्डर स्वीकार करने के लिए 1 दबाएं। ऑर्डर रद्द करने के लिए 2 दबाएं। तैयारी का समय बताने के लिए 3 दबाएं। English के लिए 9 दबाएं।',
  menuNoInput: 'हमें आपका जवाब नहीं मिला।',
  menuInvalid: 'यह विकल्प मान्य नहीं है।',
  prepTime: 'तैयारी का समय मिनटों में दबाएं, फिर हैश दबाएं। जैसे 20 मिनट के लिए 2 0 और हैश।',
  prepInvalid: 'समय 1 से 180 मिनट के बीच होना चाहिए।',
  accepted: 'धन्यवाद! ऑर्डर स्वीकार हो गया है।',
  cancelled: 'ऑर्डर रद्द कर दिया गया है। धन्यवाद।',
  prepSet: (minutes: number) => `तैयारी का समय ${minutes} मिनट सेट हो गया है। ऑर्डर कन्फ़र्म हो गया। धन्यवाद!`,
  noResponse: 'हमें कोई जवाब नहीं मिला। कॉल समाप्त की जा रही है। धन्यवाद।',
};

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

async function runCall(phone: string, orderId: string) {
  const placed = await h.trigger(order({ vendor_phone: phone, order_id: orderId }));
  expect(placed.status).toBe(200);
  expect(placed.body).toEqual({ success: true, call_sid: expect.any(String), order_id: orderId, call_id: expect.stringMatching(/^call_/) });
  const simulated = await h.simulator.finished(placed.body.call_sid);
  expect(simulated.problem).toBeUndefined();
  return { placed: placed.body, simulated, call: await h.settled(placed.body.call_id) };
}

const intro = (text: string) => text.replace('ORD-TEST-1', '%ORDER%');

describe('a vendor call in ExoML mode, for every test number', () => {
  it('9000000001 accepts: outcome accepted, the key stored against the menu, the whole ExoML as sent', async () => {
    const { placed, simulated, call } = await runCall('9000000001', 'ORD-ACCEPT');
    const base = h.baseUrl;
    const callId = placed.call_id;
    expect(simulated.requests.map((r) => [r.method, r.url, r.status, r.contentType])).toEqual([
      ['GET', `${base}/exoml/vendor-greeting?call=${callId}`, 200, 'application/xml; charset=utf-8'],
      ['POST', `${base}/exoml/vendor-action?call=${callId}&turn=1`, 200, 'application/xml; charset=utf-8'],
    ]);
    const action = `${base}/exoml/vendor-action?call=${callId}&amp;turn=1`;
    expect(simulated.requests[0]!.body).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response>' +
        `<Say language="hi-IN">${intro(HEARD.intro).replace('%ORDER%', 'ORD-ACCEPT')}</Say>` +
        `<Gather action="${action}" method="POST" numDigits="1" timeout="6"><Say language="hi-IN">${HEARD.menu}</Say></Gather>` +
        `<Redirect method="POST">${action}</Redirect>` +
        '</Response>',
    );
    expect(simulated.requests[1]!.params).toMatchObject({ Digits: '"1"', CallSid: placed.call_sid, CustomField: callId });
    expect(simulated.requests[1]!.body).toBe(
      `<?xml version="1.0" encoding="UTF-8"?><Response><Say language="hi-IN">${HEARD.accepted}</Say><Hangup/></Response>`,
    );
    expect(call).toMatchObject({
      call_id: callId,
      call_sid: placed.call_sid,
      order_id: 'ORD-ACCEPT',
      flow: 'vendor_order',
      vendor_phone: '+919000000001',
      status: 'completed',
      outcome: 'accepted',
      prep_time_minutes: null,
      digits: [{ step: 'menu', digits: '1', at: expect.any(String) }],
      // A flow call's callback carries no duration (reference §1.5); Call Details fills it in later (faults.test.ts).
      duration: null,
      recording_url: simulated.recordingUrl,
      failure: null,
      attempts: [{ attempt: 1, call_sid: placed.call_sid, result: 'placed', error: null, requested_at: expect.any(String), answered_at: expect.any(String) }],
      ended_at: expect.any(String),
    });
    expect(call.recording_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/recordings\//);
  });

  it('9000000002 cancels: outcome cancelled', async () => {
    const { simulated, call } = await runCall('9000000002', 'ORD-CANCEL');
    expect(simulated.heard).toEqual([intro(HEARD.intro).replace('%ORDER%', 'ORD-CANCEL'), HEARD.menu, HEARD.cancelled]);
    expect(call).toMatchObject({ outcome: 'cancelled', prep_time_minutes: null, status: 'completed', digits: [{ step: 'menu', digits: '2' }] });
  });

  it('9000000003 sets 20 minutes: a Gather for several digits ending in #, then accepted with prep_time_minutes 20', async () => {
    const { placed, simulated, call } = await runCall('9000000003', 'ORD-PREP');
    void call;
    const prepUrl = `${h.baseUrl}/exoml/vendor-processing-time?call=${placed.call_id}&amp;turn=2`;
    expect(simulated.requests[1]!.body).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response>' +
        `<Gather action="${prepUrl}" method="POST" numDigits="3" timeout="6" finishOnKey="#"><Say language="hi-IN">${HEARD.prepTime}</Say></Gather>` +
        `<Redirect method="POST">${prepUrl}</Redirect></Response>`,
    );
    expect(simulated.requests[2]!.body).toBe(
      `<?xml version="1.0" encoding="UTF-8"?><Response><Say language="hi-IN">${HEARD.prepSet(20)}</Say><Hangup/></Response>`,
    );
    expect(call).toMatchObject({
      outcome: 'accepted',
      prep_time_minutes: 20,
      digits: [
        { step: 'menu', digits: '3' },
        { step: 'prep_time', digits: '20' },
      ],
    });
  });

  it('9000000004 presses an invalid key, hears that it is not an option and the menu again, then accepts', async () => {
    const { simulated, call } = await runCall('9000000004', 'ORD-INVALID');
    expect(simulated.heard).toEqual([
      intro(HEARD.intro).replace('%ORDER%', 'ORD-INVALID'),
      HEARD.menu,
      HEARD.menuInvalid,
      HEARD.menu,
      HEARD.accepted,
    ]);
    expect(call).toMatchObject({
      outcome: 'accepted',
      digits: [
        { step: 'menu', digits: '7' },
        { step: 'menu', digits: '1' },
      ],
    });
  });

  it('9000000005 gives 999 minutes, is asked again (never a silent default), then 25', async () => {
    const { simulated, call } = await runCall('9000000005', 'ORD-RANGE');
    expect(simulated.heard).toEqual([
      intro(HEARD.intro).replace('%ORDER%', 'ORD-RANGE'),
      HEARD.menu,
      HEARD.prepTime,
      HEARD.prepInvalid,
      HEARD.prepTime,
      HEARD.prepSet(25),
    ]);
    expect(call).toMatchObject({
      outcome: 'accepted',
      prep_time_minutes: 25,
      digits: [
        { step: 'menu', digits: '3' },
        { step: 'prep_time', digits: '999' },
        { step: 'prep_time', digits: '25' },
      ],
    });
  });

  it('9000000006 presses nothing: the menu is offered twice more, then a closing line, Hangup, outcome no_response', async () => {
    const { simulated, call } = await runCall('9000000006', 'ORD-SILENT');
    expect(simulated.pressed).toEqual([null, null, null]);
    expect(simulated.heard).toEqual([
      intro(HEARD.intro).replace('%ORDER%', 'ORD-SILENT'),
      HEARD.menu,
      HEARD.menuNoInput,
      HEARD.menu,
      HEARD.menuNoInput,
      HEARD.menu,
      HEARD.noResponse,
    ]);
    expect(simulated.requests.at(-1)!.body).toBe(
      `<?xml version="1.0" encoding="UTF-8"?><Response><Say language="hi-IN">${HEARD.noResponse}</Say><Hangup/></Response>`,
    );
    expect(call).toMatchObject({ outcome: 'no_response', status: 'completed', digits: [], prep_time_minutes: null });
  });

  it.each([
    ['9000000007', 'busy'],
    ['9000000008', 'no-answer'],
    ['9000000009', 'failed'],
  ])('%s is %s: no ExoML is fetched, redialled twice, then outcome not_reached, no recording', async (phone, status) => {
    const { simulated, call } = await runCall(phone, `ORD-${status}`);
    expect(simulated.requests).toEqual([]);
    expect(simulated.callbacks.map((c) => c.status)).toEqual([200]);
    expect(call).toMatchObject({ status, outcome: 'not_reached', recording_url: null, digits: [], ended_at: expect.any(String), redials: 2 });
    expect(call.attempts.map((a: { result: string; status: string }) => [a.result, a.status])).toEqual([
      ['placed', status],
      ['placed', status],
      ['placed', status],
    ]);
    const dialled = [...h.simulator.calls.values()].filter((c) => c.customField === call.call_id);
    expect(dialled.map((c) => c.sid).sort()).toEqual(call.attempts.map((a: { call_sid: string }) => a.call_sid).sort());
  });

  it('lists every call of an order (a second call needs recall=true)', async () => {
    await runCall('9000000001', 'ORD-TWICE');
    const again = await h.trigger(order({ vendor_phone: '9000000002', order_id: 'ORD-TWICE' }));
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ success: false, code: 'IVR_ERR_ALREADY_CALLED' });
    const recalled = await h.trigger(order({ vendor_phone: '9000000002', order_id: 'ORD-TWICE', recall: true }));
    expect(recalled.status).toBe(200);
    await h.settled(recalled.body.call_id);
    const listed = await h.get('/api/orders/ORD-TWICE/calls');
    expect(listed.status).toBe(200);
    expect(listed.body.calls.map((c: { outcome: string }) => c.outcome)).toEqual(['accepted', 'cancelled']);
  });
});
