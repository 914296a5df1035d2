// More conversations, whole calls through the simulator in both transports: the rider delivery flow, every
// language, the language fallback order and the in-call choice, and the transfer to a human agent.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LANGUAGES, type Language } from '../../src/flows/types.js';
import { riderDelivery } from '../../src/flows/rider-delivery.js';
import { vendorOrder } from '../../src/flows/vendor-order.js';
import { readExoml } from '../../src/simulator/exoml-reader.js';
import { storedCall } from '../helpers/calls.js';
import { APPLET_MODE, order, startHarness, type Harness } from '../helpers/harness.js';

const AGENT = { AGENT_NUMBER: '+919000000020', DEFAULT_LANGUAGE: 'hi-Latn' };
let exoml: Harness;
let applet: Harness;
let noAgent: Harness;
let lazyAgent: Harness;
let appletNoAgent: Harness;
beforeAll(async () => {
  [exoml, applet, noAgent, lazyAgent, appletNoAgent] = await Promise.all([
    startHarness(AGENT),
    startHarness({ ...AGENT, ...APPLET_MODE }),
    startHarness(),
    startHarness({ ...APPLET_MODE, AGENT_NUMBER: '+919000000021' }),
    startHarness(APPLET_MODE),
  ]);
});
afterAll(async () => Promise.all([exoml, applet, noAgent, lazyAgent, appletNoAgent].map((h) => h.close())));

let orders = 0;
async function call(h: Harness, path: 'vendor-order' | 'rider-delivery', fields: Record<string, unknown>) {
  orders += 1;
  const body =
    path === 'vendor-order'
      ? order({ order_id: `CONV-${orders}`, ...fields })
      : { rider_phone: '9000000001', rider_name: 'Test Rider', order_id: `CONV-${orders}`, pickup: 'Sharma Kirana, MG Road', drop: 'Flat 12, Park Street', ...fields };
  const response = await request(`${h.baseUrl}/api/call/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const placed = (await response.body.json()) as { call_sid: string; call_id: string };
  expect(response.statusCode, JSON.stringify(placed)).toBe(200);
  const simulated = await h.simulator.finished(placed.call_sid);
  expect(simulated.problem).toBeUndefined();
  return { simulated, read: await h.settled(placed.call_id), placed };
}

const transports = (): Array<[string, Harness]> => [
  ['ExoML', exoml],
  ['applet', applet],
];

describe('the rider delivery flow', () => {
  it.each(['ExoML', 'applet'])('in %s mode: picked up, delayed 15 minutes, a problem to an agent', async (mode) => {
    const h = transports().find(([m]) => m === mode)![1];
    const picked = await call(h, 'rider-delivery', { rider_phone: '9000000001', language: 'hi-IN' });
    expect(picked.read).toMatchObject({ flow: 'rider_delivery', outcome: 'picked_up', digits: [{ step: 'menu', digits: '1' }] });
    expect(picked.simulated.heard[0]).toContain('नमस्ते Test Rider जी! ऑर्डर नंबर');
    const delayed = await call(h, 'rider-delivery', { rider_phone: '9000000011', language: 'en-IN' });
    expect(delayed.read).toMatchObject({ outcome: 'delayed', values: { delay_minutes: 15 } });
    expect(delayed.simulated.heard.at(-1)).toBe('A delay of 15 minutes is recorded. Thank you.');
    const problem = await call(h, 'rider-delivery', { rider_phone: '9000000012' });
    expect(problem.read).toMatchObject({ outcome: 'transferred', agent_status: 'completed' });
    expect(problem.simulated.dialled).toEqual([{ number: '+919000000020', status: 'completed' }]);
  });

  it('without an agent, a problem is recorded as such', async () => {
    const problem = await call(noAgent, 'rider-delivery', { rider_phone: '9000000012' });
    expect(problem.read).toMatchObject({ outcome: 'problem', agent_status: null });
    expect(problem.simulated.heard.at(-1)).toBe('आपकी समस्या दर्ज हो गई है। हमारी टीम आपसे संपर्क करेगी।');
    expect(problem.simulated.dialled).toEqual([]);
  });

  it('refuses a rider request without its fields, naming them', async () => {
    const response = await request(`${noAgent.baseUrl}/api/call/rider-delivery`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rider_name: 'R', order_id: 'X' }) });
    expect(response.statusCode).toBe(400);
    expect(await response.body.json()).toEqual({ success: false, code: 'IVR_ERR_VALIDATION', field: 'rider_phone', message: 'rider_phone is required' });
  });
});

describe('languages', () => {
  const intro = (language: Language) =>
    (vendorOrder.prompts[language].intro as string).slice(0, (vendorOrder.prompts[language].intro as string).indexOf('{'));
  for (const [mode] of [['ExoML'], ['applet']]) {
    it.each(LANGUAGES)(`a vendor call in %s (${mode} mode) is spoken in it, amounts as its listeners expect`, async (language) => {
      const h = mode === 'ExoML' ? exoml : applet;
      const { simulated, read } = await call(h, 'vendor-order', { vendor_phone: `9000${String(3000 + orders).padStart(4, '0')}01`, language, order_amount: 125000 });
      expect(simulated.heard[0]!.startsWith(intro(language))).toBe(true);
      expect(simulated.heard[0]).toContain(language === 'mr-IN' ? '१,२५,०००' : '1,25,000');
      expect(read).toMatchObject({ outcome: 'accepted', language });
      if (mode === 'ExoML') {
        const first = readExoml(simulated.requests[0]!.body);
        const say = 'verbs' in first ? first.verbs[0]! : undefined;
        expect(say?.attrs.language).toBe(language === 'hi-Latn' ? 'hi-IN' : language);
      }
    });
  }

  for (const [mode] of [['ExoML'], ['applet']]) {
    it.each(LANGUAGES)(`a rider call in %s (${mode} mode) is spoken in it and ends picked_up`, async (language) => {
      const h = mode === 'ExoML' ? exoml : applet;
      const { simulated, read } = await call(h, 'rider-delivery', { rider_phone: `9000${String(6000 + orders).padStart(4, '0')}01`, language });
      const riderIntro = riderDelivery.prompts[language].intro as string;
      expect(simulated.heard[0]!.startsWith(riderIntro.slice(0, riderIntro.indexOf('{')))).toBe(true);
      expect(read).toMatchObject({ flow: 'rider_delivery', outcome: 'picked_up', language });
    });
  }

  it('comes from the request, else the number\'s stored preference, else DEFAULT_LANGUAGE', async () => {
    const fresh = await call(exoml, 'vendor-order', { vendor_phone: '9000444401' });
    expect(fresh.read.language).toBe('hi-Latn');
    await call(exoml, 'vendor-order', { vendor_phone: '9000444501', language: 'mr-IN' });
    const remembered = await call(exoml, 'vendor-order', { vendor_phone: '9000444501' });
    expect(remembered.read.language).toBe('mr-IN');
    const asked = await call(exoml, 'vendor-order', { vendor_phone: '9000444501', language: 'en-IN' });
    expect(asked.read.language).toBe('en-IN');
  });

  it.each(['ExoML', 'applet'])('pressing 9 switches the rest of the call, and the number keeps the choice (%s mode)', async (mode) => {
    const h = mode === 'ExoML' ? exoml : applet;
    const switched = await call(h, 'vendor-order', {});
    void switched;
    const { simulated, read } = await call(h, 'vendor-order', { vendor_phone: '9000000013' });
    expect(read).toMatchObject({ outcome: 'accepted', language: 'en-IN' });
    expect(simulated.heard.at(-1)).toBe('Thank you! The order is accepted.');
    expect(simulated.heard).toContain(`${vendorOrder.prompts['en-IN'].menu} For Hindi, press 9.`);
    const next = await call(h, 'vendor-order', { vendor_phone: '9000000013' });
    expect(next.read.language).toBe('hi-IN');
    expect(next.simulated.heard[0]!.startsWith('Hello Test Vendor!')).toBe(true);
  });

  it.each(['ExoML', 'applet'])('a Marathi call switched to English offers Marathi back, not Hindi (%s mode)', async (mode) => {
    const { simulated, read } = await call(mode === 'ExoML' ? exoml : applet, 'vendor-order', { vendor_phone: '9000000013', language: 'mr-IN' });
    expect(read).toMatchObject({ outcome: 'accepted', language: 'en-IN' });
    expect(simulated.heard.some((heard) => heard.endsWith(`${vendorOrder.prompts['mr-IN'].menu} English साठी 9 दाबा.`))).toBe(true);
    expect(simulated.heard).toContain('To accept the order, press 1. To cancel it, press 2. To set the preparation time, press 3. For Marathi, press 9.');
    expect(simulated.heard.join(' ')).not.toContain('Hindi');
  });
});

describe('a vendor who hangs up as they press', () => {
  it.each(['ExoML', 'applet'])('in %s mode: the final status arrives before the key, and the order is still accepted', async (mode) => {
    const h = mode === 'ExoML' ? noAgent : appletNoAgent;
    const { read } = await call(h, 'vendor-order', { vendor_phone: '9000000019' });
    // The race as the simulator ran it: Exotel's final status was stored before the request with the key.
    const order = h.app.store.events(read.call_id).flatMap((e) => (e.kind === 'status_callback' || e.digits ? [[e.kind, e.digits]] : []));
    expect(order).toEqual([['status_callback', null], ['exotel_request', '1']]);
    expect(read).toMatchObject({ status: 'completed', outcome: 'accepted', digits: [{ step: 'menu', digits: '1' }] });
    expect(h.app.outbox.forCall(read.call_id).map((row) => row.payload.outcome)).toEqual(['accepted']);
  });
});

describe('agent transfer', () => {
  it('pressing 0 in ExoML mode: the whole transfer document, then the agent leg recorded', async () => {
    const { simulated, read, placed } = await call(exoml, 'vendor-order', { vendor_phone: '9000000010' });
    const agentUrl = simulated.requests[1]!.body.match(/<Dial action="([^"]+)"/)![1]!;
    expect(agentUrl).toBe(`${exoml.baseUrl}/exoml/agent-status?call=${placed.call_id}`);
    expect(simulated.requests[1]!.body).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response>' +
        `<Say language="hi-IN">${vendorOrder.prompts['hi-Latn'].agent_connecting}</Say>` +
        `<Dial action="${agentUrl}" method="POST" callerId="08000000000" timeout="30" record="true">+919000000020</Dial>` +
        '<Hangup/></Response>',
    );
    expect(read).toMatchObject({ outcome: 'transferred', agent_status: 'completed', digits: [{ step: 'menu', digits: '0' }] });
  });

  it('pressing 0 in applet mode: the Connect applet names the agent; the agent who does not answer is recorded', async () => {
    const { simulated, read } = await call(lazyAgent, 'vendor-order', { vendor_phone: '9000000010' });
    const connect = simulated.requests.find((r) => r.url.endsWith('/connect'))!;
    expect(JSON.parse(connect.body)).toEqual({
      fetch_after_attempt: false,
      destination: { numbers: ['+919000000021'] },
      outgoing_phone_number: '08000000000',
      record: true,
      recording_channels: 'dual',
      max_ringing_duration: 30,
    });
    expect(read).toMatchObject({ outcome: 'transferred', agent_status: 'no-answer' });
    // The backend's copy says the same, even when the agent leg ended after the call settled.
    expect(lazyAgent.app.outbox.forCall(read.call_id)[0]!.payload).toMatchObject({ outcome: 'transferred', agent_status: 'no-answer' });
  });

  it('too many wrong keys reach the agent too', async () => {
    const { read } = await call(exoml, 'vendor-order', { vendor_phone: '9000000014' });
    expect(read).toMatchObject({ outcome: 'transferred', agent_status: 'completed' });
  });

  it.each(['ExoML', 'applet'])('in %s mode without an agent, three wrong keys end the call as no valid answer, not as silence', async (mode) => {
    const { simulated, read } = await call(mode === 'ExoML' ? noAgent : appletNoAgent, 'vendor-order', { vendor_phone: '9000000014', language: 'en-IN' });
    expect(read).toMatchObject({ outcome: 'no_response', digits: [1, 2, 3].map(() => ({ step: 'menu', digits: '7' })) });
    // The vendor pressed keys: the closing says no valid answer came, not that nothing was heard.
    expect(simulated.heard.at(-1)).toBe('That key is not an option. We did not get a valid answer. Ending the call. Thank you.');
  });

  it.each(['ExoML', 'applet'])('in %s mode, a 0 that arrives after the hang-up hands nobody to an agent', async (mode) => {
    const h = mode === 'ExoML' ? exoml : applet;
    const sid = `sidlateagentkey${mode}`.padEnd(32, '0');
    const stored = storedCall(h.app.store, { transport: mode === 'ExoML' ? 'exoml' : 'applet', exotelCallSid: sid });
    const token = APPLET_MODE.APPLET_PATH_TOKEN;
    if (mode === 'ExoML') await h.app.inject({ method: 'GET', url: `/exoml/vendor-greeting?call=${stored.id}` });
    else await h.app.inject({ method: 'GET', url: `/applet/${token}/gather?CallSid=${sid}` });
    // Exotel's final status first, then the request with the key pressed as the vendor hung up.
    await h.app.inject({ method: 'POST', url: `/webhook/exotel/status?call=${stored.id}&attempt=1`, payload: { CallSid: sid, Status: 'completed' } });
    if (mode === 'ExoML') await h.app.inject({ method: 'POST', url: `/exoml/vendor-action?call=${stored.id}&turn=1`, payload: { Digits: '0' } });
    else await h.app.inject({ method: 'GET', url: `/applet/${token}/passthru?CallSid=${sid}&CallType=client-hangup&digits=%220%22` });
    const read = await h.settled(stored.id);
    expect(read).toMatchObject({ outcome: 'no_response', agent_status: null, digits: [{ step: 'menu', digits: '0' }] });
  });

  it('a 9 that arrives after the hang-up counts in the call but does not become the number\'s language', async () => {
    const stored = storedCall(noAgent.app.store, { exotelCallSid: 'sidlatelanguagekey00000000000001' });
    await noAgent.app.inject({ method: 'GET', url: `/exoml/vendor-greeting?call=${stored.id}` });
    await noAgent.app.inject({ method: 'POST', url: `/webhook/exotel/status?call=${stored.id}&attempt=1`, payload: { CallSid: stored.exotelCallSid!, Status: 'completed' } });
    await noAgent.app.inject({ method: 'POST', url: `/exoml/vendor-action?call=${stored.id}&turn=1`, payload: { Digits: '9' } });
    expect(await noAgent.settled(stored.id)).toMatchObject({ outcome: 'no_response', language: 'en-IN', digits: [{ step: 'menu', digits: '9' }] });
    expect(noAgent.app.store.preferredLanguage(stored.phone)).toBeUndefined();
  });

  it('without an agent, 0 is just a wrong key', async () => {
    const { read } = await call(noAgent, 'vendor-order', { vendor_phone: '9000000010' });
    expect(read).toMatchObject({ outcome: 'no_response' });
  });
});

