// Applet mode in detail: the whole JSON of each Gather step, the Passthru's branches, HEAD on the Greeting,
// every form the digits come in, calls Exotel names only by CustomField, and requests we cannot place.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { start } from '../../src/flows/engine.js';
import { vendorOrder } from '../../src/flows/vendor-order.js';
import { settle } from '../../src/calls/settle.js';
import { storedCall } from '../helpers/calls.js';
import { APPLET_MODE, order, startHarness, type Harness } from '../helpers/harness.js';

const TOKEN = APPLET_MODE.APPLET_PATH_TOKEN;
const INTRO = (orderId: string) =>
  `नमस्ते Test Vendor जी! आपके लिए एक नया ऑर्डर है। ऑर्डर नंबर ${orderId}। राशि 550 रुपये। सामान: Tomato 2kg।`;
const MENU = 'ऑर्डर स्वीकार करने के लिए 1 दबाएं। ऑर्डर रद्द करने के लिए 2 दबाएं। तैयारी का समय बताने के लिए 3 दबाएं। English के लिए 9 दबाएं।';
const PREP = 'तैयारी का समय मिनटों में दबाएं, फिर हैश दबाएं। जैसे 20 मिनट के लिए 2 0 और हैश।';
const APOLOGY = 'क्षमा करें, तकनीकी समस्या के कारण कॉल समाप्त की जा रही है। हम आपसे फिर संपर्क करेंगे।';
/** The Gather a call that cannot go on gets: its closing said once, no wait for keys. */
const closingGather = (text: string) => ({
  gather_prompt: { text },
  max_input_digits: 1,
  finish_on_key: '',
  input_timeout: 1,
  repeat_menu: 0,
  repeat_gather_prompt: { text },
});

let h: Harness;
beforeAll(async () => {
  h = await startHarness(APPLET_MODE);
});
afterAll(async () => h.close());

async function run(phone: string, orderId: string) {
  const placed = await h.trigger(order({ vendor_phone: phone, order_id: orderId }));
  expect(placed.status).toBe(200);
  const simulated = await h.simulator.finished(placed.body.call_sid);
  expect(simulated.problem).toBeUndefined();
  return { placed: placed.body, simulated, call: (await h.get(`/api/calls/${placed.body.call_sid}`)).body.call };
}

describe('a vendor call in applet mode', () => {
  it('places the call with the dashboard flow Url and our call id as CustomField', async () => {
    const { placed, simulated } = await run('9000000001', 'ORD-APP-URL');
    expect(simulated.url).toBe('http://my.exotel.com/test-account/exoml/start_voice/test-app');
    expect(simulated.customField).toBe(placed.call_id);
  });

  it('9000000003: the whole Gather JSON of each question, the Passthru branches, HEAD then GET on the Greeting', async () => {
    const { placed, simulated, call } = await run('9000000003', 'ORD-APP-PREP');
    const base = `${h.baseUrl}/applet/${TOKEN}`;
    expect(simulated.requests.map((r) => [r.method, r.url, r.status, r.contentType, r.params.digits ?? null])).toEqual([
      ['GET', `${base}/gather`, 200, 'application/json', null],
      ['GET', `${base}/passthru`, 200, 'text/plain', '"3"'],
      ['GET', `${base}/gather`, 200, 'application/json', '"3"'],
      ['GET', `${base}/passthru`, 302, 'text/plain', '"20"'],
      ['HEAD', `${base}/greeting`, 200, 'text/plain', '"20"'],
      ['GET', `${base}/greeting`, 200, 'text/plain', '"20"'],
      ['GET', `${base}/connect`, 200, 'application/json', '"20"'],
      ['GET', `${base}/passthru`, 302, 'text/plain', '"20"'],
    ]);
    // No transfer: the Connect applet dials nobody, which takes Exotel straight on.
    expect(JSON.parse(simulated.requests[6]!.body)).toEqual({ fetch_after_attempt: false, destination: { numbers: [] } });
    expect(JSON.parse(simulated.requests[0]!.body)).toEqual({
      gather_prompt: { text: `${INTRO('ORD-APP-PREP')} ${MENU}` },
      max_input_digits: 1,
      finish_on_key: '',
      input_timeout: 6,
      repeat_menu: 2,
      repeat_gather_prompt: { text: `हमें आपका जवाब नहीं मिला। ${MENU}` },
    });
    expect(JSON.parse(simulated.requests[2]!.body)).toEqual({
      gather_prompt: { text: PREP },
      max_input_digits: 3,
      finish_on_key: '#',
      input_timeout: 6,
      repeat_menu: 2,
      repeat_gather_prompt: { text: `हमें समय नहीं मिला। ${PREP}` },
    });
    expect(simulated.requests[4]!.body).toBe('');
    expect(simulated.requests[5]!.body).toBe('तैयारी का समय 20 मिनट सेट हो गया है। ऑर्डर कन्फ़र्म हो गया। धन्यवाद!');
    // The Gather names the call by CallSid only (reference §5.2); the Passthru carries our CustomField too.
    expect(simulated.requests[0]!.params).toMatchObject({ CallSid: placed.call_sid, Direction: 'outbound-dial', flow_id: 'test-app' });
    expect(simulated.requests[0]!.params).not.toHaveProperty('CustomField');
    expect(simulated.requests[1]!.params).toMatchObject({ CallSid: placed.call_sid, CustomField: placed.call_id });
    expect(call).toMatchObject({ outcome: 'accepted', prep_time_minutes: 20, status: 'completed' });
    // Every parameter Exotel sent is in the event log, in order, with the step the keys answered.
    const events = h.app.store.events(placed.call_id);
    expect(events.map((e) => [e.kind, e.route, e.step, e.digits])).toEqual([
      ['exotel_request', '/applet/gather', 'menu', null],
      ['exotel_request', '/applet/passthru', 'menu', '3'],
      ['exotel_request_replayed', '/applet/gather', 'prep_time', null],
      ['exotel_request', '/applet/passthru', 'prep_time', '20'],
      ['exotel_probe', '/applet/greeting', 'prep_time', null],
      ['exotel_request', '/applet/greeting', 'prep_time', null],
      ['exotel_request', '/applet/connect', 'prep_time', null],
      // The async Passthru after the end: stored with what it carried, changing nothing.
      ['exotel_request_replayed', '/applet/passthru', 'prep_time', '20'],
      ['status_callback', '/webhook/exotel/status', null, null],
    ]);
    const read = await h.get(`/api/calls/${placed.call_sid}?include=events`);
    const unsaid = (list: Array<{ said: unknown }>) => list.map(({ said: _said, pressed: _pressed, note: _note, ...e }: { said: unknown; pressed?: unknown; note?: unknown }) => e);
    expect(unsaid(read.body.call.events)).toEqual(JSON.parse(JSON.stringify(unsaid(events))));
    // The repeats are marked as changing nothing, so ops never read their keys as the vendor's answer.
    expect(read.body.call.events.map((e: { kind: string; note: string | null }) => [e.kind, e.note]).filter(([, note]: [string, string | null]) => note !== null)).toEqual(
      events.filter((e) => e.kind !== 'exotel_request' && e.kind !== 'status_callback').map((e) => [e.kind, { exotel_request_replayed: 'a repeat: changed nothing', exotel_probe: 'a HEAD probe: changed nothing' }[e.kind]]),
    );
    expect(read.body.call.events.map((e: { pressed: string | null }) => e.pressed)).toEqual(events.map((e) => e.digits));
    // And to each request that took a turn, what we answered in words, as the vendor heard it: the menu, the
    // question for minutes (fetched by the next Gather), the closing (spoken by the Greeting); nothing to the rest.
    expect(read.body.call.events.map((e: { said: string | null }) => e.said)).toEqual([
      `${INTRO('ORD-APP-PREP')} ${MENU}`, PREP, null, simulated.requests[5]!.body, null, null, null, null, null,
    ]);
    expect(events[1]!.params).toMatchObject({ CallFrom: '09000000003', CallTo: '08000000000', Direction: 'outbound-dial', CallType: 'call-attempt', digits: '"3"', flow_id: 'test-app' });
  });

  it('9000000006: Exotel repeats the question itself, then a Passthru without keys settles no_response', async () => {
    const { simulated, call } = await run('9000000006', 'ORD-APP-SILENT');
    expect(simulated.pressed).toEqual([null, null, null]);
    expect(simulated.heard).toEqual([
      `${INTRO('ORD-APP-SILENT')} ${MENU}`,
      `हमें आपका जवाब नहीं मिला। ${MENU}`,
      `हमें आपका जवाब नहीं मिला। ${MENU}`,
      'हमें कोई जवाब नहीं मिला। कॉल समाप्त की जा रही है। धन्यवाद।',
    ]);
    expect(simulated.requests[1]!.params.digits).toBe('""');
    expect(call).toMatchObject({ outcome: 'no_response', digits: [] });
  });

  it('9000000004: an invalid key is said to be no option and the menu is asked again', async () => {
    const { simulated } = await run('9000000004', 'ORD-APP-INVALID');
    expect(simulated.heard).toEqual([`${INTRO('ORD-APP-INVALID')} ${MENU}`, `यह विकल्प मान्य नहीं है। ${MENU}`, 'धन्यवाद! ऑर्डर स्वीकार हो गया है।']);
  });

  it('a chain shorter than the conversation ends it at the Greeting as no_response, never hanging', async () => {
    const short = await startHarness(APPLET_MODE);
    try {
      short.simulator.installRecipe('test-app', (a) => short.app.links.applet(a, TOKEN), { pairs: 2, endPassthru: false });
      const placed = await short.trigger(order({ vendor_phone: '9000000005' }));
      const simulated = await short.simulator.finished(placed.body.call_sid);
      expect(simulated.problem).toBeUndefined();
      expect(simulated.heard.at(-1)).toBe('हमें कोई जवाब नहीं मिला। कॉल समाप्त की जा रही है। धन्यवाद।');
      expect((await short.get(`/api/calls/${placed.body.call_sid}`)).body.call).toMatchObject({ outcome: 'no_response', status: 'completed' });
    } finally {
      await short.close();
    }
  });

  it('works when Exotel drops the query string we put on an applet URL', async () => {
    const dropped = await startHarness(APPLET_MODE);
    try {
      dropped.simulator.installRecipe('test-app', (a) => `${dropped.app.links.applet(a, TOKEN)}?step=x`, { dropQueryStrings: true });
      const placed = await dropped.trigger(order({ vendor_phone: '9000000002' }));
      const simulated = await dropped.simulator.finished(placed.body.call_sid);
      expect(simulated.requests.every((r) => !('step' in r.params))).toBe(true);
      expect((await dropped.get(`/api/calls/${placed.body.call_sid}`)).body.call).toMatchObject({ outcome: 'cancelled' });
    } finally {
      await dropped.close();
    }
  });

  it.each([
    ['a trailing slash', (url: string) => `${url}/`],
    ['a doubled slash', (url: string) => url.replace('/applet/', '//applet/')],
  ])('runs the whole call when the dashboard URLs were typed with %s', async (_name, typed) => {
    const slashed = await startHarness(APPLET_MODE);
    try {
      slashed.simulator.installRecipe('test-app', (a) => typed(slashed.app.links.applet(a, TOKEN)));
      const placed = await slashed.trigger(order({ vendor_phone: '9000000003' }));
      const simulated = await slashed.simulator.finished(placed.body.call_sid);
      expect(simulated.problem).toBeUndefined();
      const at = (applet: string) => typed(`${slashed.baseUrl}/applet/${TOKEN}/${applet}`);
      expect(simulated.requests.map((r) => [r.method, r.url, r.status])).toEqual([
        ['GET', at('gather'), 200],
        ['GET', at('passthru'), 200],
        ['GET', at('gather'), 200],
        ['GET', at('passthru'), 302],
        ['HEAD', at('greeting'), 200],
        ['GET', at('greeting'), 200],
        ['GET', at('connect'), 200],
        ['GET', at('passthru'), 302],
      ]);
      expect(simulated.heard.at(-1)).toBe('तैयारी का समय 20 मिनट सेट हो गया है। ऑर्डर कन्फ़र्म हो गया। धन्यवाद!');
      expect((await slashed.get(`/api/calls/${placed.body.call_sid}`)).body.call).toMatchObject({ outcome: 'accepted', prep_time_minutes: 20 });
    } finally {
      await slashed.close();
    }
  });

  it('a Greeting URL we do not serve still ends the call with a closing the vendor hears, and ops see why', async () => {
    const lines: string[] = [];
    const typo = await startHarness({ ...APPLET_MODE, LOG_LEVEL: 'info' }, { logLines: lines });
    try {
      typo.simulator.installRecipe('test-app', (a) => (a === 'greeting' ? `${typo.app.links.applet(a, TOKEN)}/extra` : typo.app.links.applet(a, TOKEN)));
      const placed = await typo.trigger(order({ vendor_phone: '9000000001' }));
      const simulated = await typo.simulator.finished(placed.body.call_sid);
      expect(simulated.problem).toBeUndefined();
      const greeting = simulated.requests.filter((r) => r.url.endsWith('/greeting/extra'));
      expect(greeting.map((r) => [r.method, r.status, r.contentType, r.body])).toEqual([
        ['HEAD', 200, 'text/plain', ''],
        ['GET', 200, 'text/plain', APOLOGY],
      ]);
      // The keys still counted: the outcome came from the Passthru, only the closing was lost.
      expect((await typo.get(`/api/calls/${placed.body.call_sid}`)).body.call).toMatchObject({ outcome: 'accepted' });
      const logged = lines.map((l) => JSON.parse(l) as { level: number; msg: string; route?: string }).filter((l) => l.msg.startsWith('Exotel asked for a URL we do not serve'));
      expect(logged.length).toBeGreaterThanOrEqual(1);
      expect(logged[0]).toMatchObject({ level: 50, route: '/applet/<token>/greeting/extra' });
      expect(lines.join('\n')).not.toContain(TOKEN);
    } finally {
      await typo.close();
    }
  });

  it('does not serve ExoML for an applet call', async () => {
    const { placed } = await run('9000000001', 'ORD-APP-NOEXOML');
    const answer = await h.app.inject({ method: 'POST', url: `/exoml/vendor-action?call=${placed.call_id}&turn=1`, payload: { Digits: '2' } });
    expect(answer.body).toContain(APOLOGY);
    expect(h.app.store.get(placed.call_id)).toMatchObject({ outcome: 'accepted' });
  });
});

describe('applet routes on their own', () => {
  /** An applet call Exotel has just connected: our row exists, the CallSid may not be stored yet. */
  const connectedCall = (sid?: string) => storedCall(h.app.store, { transport: 'applet', exotelCallSid: sid ?? null }).id;
  const get = (applet: string, query: Record<string, string>, method: 'GET' | 'HEAD' = 'GET', token = TOKEN) =>
    h.app.inject({ method, url: `/applet/${token}/${applet}?${new URLSearchParams(query)}` });

  it('finds the call by a repeated CallSid whose first value is empty', async () => {
    const sid = 'sidrepeatedcallsid00000000000001';
    const id = connectedCall(sid);
    const gather = await h.app.inject({ method: 'GET', url: `/applet/${TOKEN}/gather?CallSid=&CallSid=${sid}` });
    expect(JSON.parse(gather.body).gather_prompt.text).toContain(MENU);
    expect(h.app.store.get(id)!.askedTurn).toBe(1);
  });

  it('finds a call by CustomField before its CallSid is stored, and adopts the CallSid', async () => {
    const id = connectedCall();
    const gather = await get('gather', { CallSid: 'sidfromexotel00000000000000000001', CustomField: id });
    expect(JSON.parse(gather.body).gather_prompt.text).toContain('नमस्ते Test Vendor जी!');
    expect(h.app.store.get(id)!.exotelCallSid).toBe('sidfromexotel00000000000000000001');
    const passthru = await get('passthru', { CallSid: 'sidfromexotel00000000000000000001', digits: '"2"' });
    expect(passthru.statusCode).toBe(302);
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'cancelled' });
  });

  it.each([
    ['quoted', '"1"', 302, 'accepted'],
    ['unquoted', '1', 302, 'accepted'],
    ['quoted with the finish key', '"1#"', 302, 'accepted'],
    ['an invalid key', '"9"', 200, 'pending'],
    ['empty quotes', '""', 302, 'no_response'],
    ['empty', '', 302, 'no_response'],
    ['the string null', 'null', 302, 'no_response'],
    // A press with no digits is not silence: the question is asked again.
    ['the finish key alone, quoted', '"#"', 200, 'pending'],
    ['the finish key alone', '#', 200, 'pending'],
  ])('digits %s (%j) → %i, %s', async (_name, digits, status, outcome) => {
    const sid = `sid${Math.random().toString(36).slice(2).padEnd(29, '0')}`;
    const id = connectedCall(sid);
    await get('gather', { CallSid: sid });
    const answer = await get('passthru', { CallSid: sid, digits });
    expect(answer.statusCode).toBe(status);
    expect(h.app.store.get(id)).toMatchObject({ outcome });
  });

  it('a Gather naming neither a CallSid of ours nor a CustomField finds the call being dialled by the vendor\'s number', async () => {
    const call = storedCall(h.app.store, { transport: 'applet', exotelCallSid: null });
    const sid = 'sidgatherbycaller000000000000001';
    // As the reference lists a Gather's parameters (§5.2), the number in Exotel's 0-prefixed form (§1.9).
    const caller = { CallSid: sid, CallFrom: `0${call.phone.slice(3)}`, CallTo: '08000000000', CallStatus: 'in-progress', Direction: 'outbound-dial' };
    // The vendor ringing us from that number is another call: not this one (both words Exotel uses).
    for (const direction of ['incoming', 'inbound']) {
      const inbound = await get('gather', { ...caller, CallSid: `sidinboundfromvendor0000${direction.slice(0, 3)}00001`, Direction: direction });
      expect(JSON.parse(inbound.body)).toEqual(closingGather(APOLOGY));
    }
    expect(h.app.store.get(call.id)).toMatchObject({ status: 'dialing', exotelCallSid: null });
    const gather = await get('gather', caller);
    expect(JSON.parse(gather.body).gather_prompt.text).toBe(`${INTRO(call.orderId).replace('550', '1').replace(' सामान: Tomato 2kg।', '')} ${MENU}`);
    expect(h.app.store.get(call.id)).toMatchObject({ exotelCallSid: sid, askedTurn: 1 });
    expect((await get('passthru', { ...caller, digits: '"2"' })).statusCode).toBe(302);
    expect(h.app.store.get(call.id)).toMatchObject({ outcome: 'cancelled' });
  });

  it('the vendor\'s number names no call when another call of ours may be on the line, or the one there has its CallSid', async () => {
    // A: its Connect was refused (429), so it certainly did not ring, and waits to be dialled again.
    const a = storedCall(h.app.store, { transport: 'applet', exotelCallSid: null });
    h.app.store.attemptNotPlaced(a.id, 1, 'EXOTEL_ERR_RATE_LIMITED', 'Too many requests', new Date('2100-01-01T00:00:00.000Z'));
    // B: the same vendor, on the line, its CallSid stored. A Gather of B's arrives with CallSid None (§13).
    const b = storedCall(h.app.store, { transport: 'applet', phone: a.phone, exotelCallSid: 'sidonthelineb0000000000000000001' });
    const gather = await get('gather', { CallSid: 'None', CallFrom: `0${a.phone.slice(3)}`, Direction: 'outbound-dial' });
    // Neither A's intro nor a guess: the apology, and both calls as they were.
    expect(JSON.parse(gather.body)).toEqual(closingGather(APOLOGY));
    expect(h.app.store.get(a.id)).toMatchObject({ status: 'queued', lastReply: null });
    expect(h.app.store.get(b.id)).toMatchObject({ status: 'in-progress', lastReply: null });
  });

  it('a call already settled takes no keys on its Passthru and goes on to the Greeting, not back to the Gather', async () => {
    const call = storedCall(h.app.store, { transport: 'applet', exotelCallSid: null });
    // Given up on before it rang (the lookups could not tell): not_reached, told to the backend.
    h.app.store.transaction(() => settle(h.app.callDeps, call.id, 'not_reached'));
    const sid = 'sidsettledbeforeitrang0000000001';
    const passthru = await get('passthru', { CallSid: sid, CustomField: call.id, digits: '"1"' });
    expect([passthru.statusCode, passthru.body]).toEqual([302, 'end']);
    expect(h.app.store.get(call.id)).toMatchObject({ outcome: 'not_reached' });
    expect(h.app.store.events(call.id).map((e) => e.kind)).not.toContain('applet_keys_unasked');
  });

  it('keys on a Passthru whose Gather could not find the call are not taken: the question is asked, then answered', async () => {
    const call = storedCall(h.app.store, { transport: 'applet', exotelCallSid: null });
    const sid = 'sidpassthrubeforegather000000001';
    // The Gather knows neither the CallSid nor the number: the vendor hears the apology.
    expect(JSON.parse((await get('gather', { CallSid: sid })).body)).toEqual(closingGather(APOLOGY));
    // Keys pressed over it answer no question: back to the Gather, with the CallSid now stored.
    const unasked = await get('passthru', { CallSid: sid, CustomField: call.id, digits: '"2"' });
    expect([unasked.statusCode, unasked.body]).toEqual([200, 'ask']);
    expect(h.app.store.get(call.id)).toMatchObject({ outcome: 'pending', exotelCallSid: sid, lastReply: null });
    // The Gather finds the call now, and the vendor's answer to the question they heard is taken.
    expect(JSON.parse((await get('gather', { CallSid: sid })).body).gather_prompt.text).toContain(MENU);
    expect((await get('passthru', { CallSid: sid, CustomField: call.id, digits: '"1"' })).statusCode).toBe(302);
    expect(h.app.store.get(call.id)).toMatchObject({ outcome: 'accepted' });
    expect(h.app.store.events(call.id).map((e) => [e.kind, e.route, e.digits])).toEqual([
      ['applet_keys_unasked', '/applet/passthru', '2'],
      ['exotel_request', '/applet/gather', null],
      ['exotel_request', '/applet/passthru', '1'],
    ]);
  });

  it('a call no Gather can find goes back to the Gather once, then ends at the Greeting as never asked: not_reached', async () => {
    const lines: string[] = [];
    const lost = await startHarness({ ...APPLET_MODE, LOG_LEVEL: 'info' }, { logLines: lines });
    try {
      const call = storedCall(lost.app.store, { transport: 'applet', exotelCallSid: null });
      const named = { CallSid: 'None', CustomField: call.id };
      const ask = (applet: string, query: Record<string, string>) => lost.app.inject({ method: 'GET', url: `/applet/${TOKEN}/${applet}?${new URLSearchParams(query)}` });
      expect(JSON.parse((await ask('gather', { CallSid: 'None' })).body)).toEqual(closingGather(APOLOGY));
      expect((await ask('passthru', { ...named, digits: '"2"' })).statusCode).toBe(200);
      expect(JSON.parse((await ask('gather', { CallSid: 'None' })).body)).toEqual(closingGather(APOLOGY));
      expect((await ask('passthru', { ...named, digits: '"2"' })).statusCode).toBe(302);
      // The vendor heard only our apology, never the order: not "we got no answer", and no silence of theirs.
      const greeting = await ask('greeting', named);
      expect(greeting.body).toBe(APOLOGY);
      expect(lost.app.store.get(call.id)).toMatchObject({ outcome: 'pending' });
      expect(lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.msg.startsWith('Greeting reached, but no Gather'))).toMatchObject([{ level: 50 }]);
      const status = await lost.app.inject({ method: 'POST', url: `/webhook/exotel/status?call=${call.id}&attempt=1`, payload: { CallSid: 'sidneverasked000000000000000001', Status: 'completed' } });
      expect(status.statusCode).toBe(200);
      expect(lost.app.store.get(call.id)).toMatchObject({ outcome: 'not_reached', failureReason: 'never_asked' });
    } finally {
      await lost.close();
    }
  });

  it('a call mid-conversation across an upgrade: a reply stored by the earlier version still asks the menu, not an apology', async () => {
    const sid = 'sidupgradedreply0000000000000001';
    const id = connectedCall(sid);
    await get('gather', { CallSid: sid });
    await get('passthru', { CallSid: sid, digits: '"7"' });
    // Before the menus' language offer, a stored question was one prompt name, not a list.
    const stored = h.app.store.get(id)!.lastReply!;
    h.db.prepare('UPDATE calls SET last_reply = ? WHERE id = ?').run(JSON.stringify({ ...stored, question: 'menu' }), id);
    const gather = JSON.parse((await get('gather', { CallSid: sid })).body);
    expect(gather.gather_prompt.text).toBe(`यह विकल्प मान्य नहीं है। ${vendorOrder.prompts['hi-IN'].menu}`);
    expect((await get('passthru', { CallSid: sid, digits: '"1"' })).statusCode).toBe(302);
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'accepted' });
  });

  it('missing digits after the repeats settle no_response; a repeated Passthru changes nothing', async () => {
    const sid = 'sidmissingdigits0000000000000001';
    const id = connectedCall(sid);
    await get('gather', { CallSid: sid });
    expect((await get('passthru', { CallSid: sid })).statusCode).toBe(302);
    expect((await get('passthru', { CallSid: sid, digits: '"1"' })).statusCode).toBe(302);
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'no_response' });
  });

  it('a Passthru repeated before the next Gather is not applied twice', async () => {
    const sid = 'sidrepeatedpassthru0000000000001';
    const id = connectedCall(sid);
    await get('gather', { CallSid: sid });
    await get('passthru', { CallSid: sid, digits: '"7"' });
    await get('passthru', { CallSid: sid, digits: '"7"' });
    expect(h.app.store.get(id)!.state).toMatchObject({ invalid: 1, turn: 2 });
    await get('gather', { CallSid: sid });
    await get('passthru', { CallSid: sid, digits: '"1"' });
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'accepted' });
  });

  it('HEAD on the Passthru takes no turn: the keys that follow still count', async () => {
    const sid = 'sidheadpassthru00000000000000001';
    const id = connectedCall(sid);
    await get('gather', { CallSid: sid });
    const head = await get('passthru', { CallSid: sid }, 'HEAD');
    expect([head.statusCode, head.body]).toEqual([200, '']);
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'pending', settledAt: null, state: { step: 'menu', turn: 1, noInput: 0 } });
    expect(h.app.store.events(id).map((e) => e.kind)).toEqual(['exotel_request', 'exotel_probe']);
    expect((await get('passthru', { CallSid: sid, digits: '"1"' })).statusCode).toBe(302);
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'accepted' });
  });

  it.each([
    ['Gather', 'gather', 'application/json', JSON.stringify(closingGather(APOLOGY))],
    ['Greeting', 'greeting', 'text/plain', APOLOGY],
  ] as const)('HEAD on the %s of a call settled with its question open answers the headers its GET does: the apology', async (_name, applet, type, apology) => {
    const sid = `sidheadsettled${applet.padEnd(18, '0')}`;
    const id = connectedCall(sid);
    await get('gather', { CallSid: sid });
    // Exotel's final status came first and the grace ran out: the outcome is given.
    h.app.store.transaction(() => settle(h.app.callDeps, id, 'no_response'));
    const head = await get(applet, { CallSid: sid }, 'HEAD');
    const body = await get(applet, { CallSid: sid });
    expect(body.body).toBe(apology);
    expect([head.statusCode, head.body, head.headers['content-type']]).toEqual([200, '', type]);
    expect(Number(head.headers['content-length'])).toBe(Buffer.byteLength(body.body));
  });

  it('a bare # again and again is asked again each time, never the end of the call', async () => {
    const sid = 'sidbarehashrepeated0000000000001';
    const id = connectedCall(sid);
    await get('gather', { CallSid: sid });
    for (let press = 1; press <= 4; press++) {
      const answer = await get('passthru', { CallSid: sid, digits: '"#"' });
      expect(answer.statusCode).toBe(200);
      expect(JSON.parse((await get('gather', { CallSid: sid })).body).gather_prompt.text).toContain(MENU);
    }
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'pending' });
    expect((await get('passthru', { CallSid: sid, digits: '"1"' })).statusCode).toBe(302);
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'accepted' });
  });

  it('HEAD on the Greeting answers the same headers with no body and settles nothing', async () => {
    const sid = 'sidheadgreeting00000000000000001';
    const id = connectedCall(sid);
    const head = await get('greeting', { CallSid: sid }, 'HEAD');
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'pending' });
    const body = await get('greeting', { CallSid: sid });
    expect(head.headers['content-type']).toBe(body.headers['content-type']);
    expect(head.headers['content-type']).toBe('text/plain');
    expect(Number(head.headers['content-length'])).toBe(Buffer.byteLength(body.body));
  });

  it('an unknown CallSid gets a polite closing in the form each applet expects, stored for ops', async () => {
    const unknown = { CallSid: 'sidnobodyknows000000000000000001', CustomField: 'call_nobody' };
    const gather = await get('gather', unknown);
    expect([gather.statusCode, gather.headers['content-type']]).toEqual([200, 'application/json']);
    expect(JSON.parse(gather.body)).toEqual(closingGather(APOLOGY));
    expect((await get('passthru', unknown)).statusCode).toBe(302);
    const greeting = await get('greeting', unknown);
    expect([greeting.statusCode, greeting.body]).toEqual([200, APOLOGY]);
    const stored = h.db.prepare("SELECT COUNT(*) AS n FROM call_events WHERE kind = 'applet_request_unknown_call'").get() as { n: number };
    expect(stored.n).toBeGreaterThanOrEqual(3);
  });

  it('over HTTP: the Greeting and Connect answer a POST as they answer a GET', async () => {
    const sid = 'sidpostgreeting00000000000000001';
    const id = connectedCall(sid);
    await get('gather', { CallSid: sid });
    expect((await get('passthru', { CallSid: sid, digits: '"1"' })).statusCode).toBe(302);
    const answers = [];
    for (const method of ['GET', 'POST'] as const) {
      for (const applet of ['greeting', 'connect']) {
        const answer = await request(`${h.baseUrl}/applet/${TOKEN}/${applet}`, {
          method,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ CallSid: sid }).toString(),
          ...(method === 'GET' ? { body: null, query: { CallSid: sid } } : {}),
        });
        answers.push([method, applet, answer.statusCode, answer.headers['content-type'], await answer.body.text()]);
      }
    }
    const closing = 'धन्यवाद! ऑर्डर स्वीकार हो गया है।';
    const nobody = JSON.stringify({ fetch_after_attempt: false, destination: { numbers: [] } });
    expect(answers).toEqual([
      ['GET', 'greeting', 200, 'text/plain', closing],
      ['GET', 'connect', 200, 'application/json', nobody],
      ['POST', 'greeting', 200, 'text/plain', closing],
      ['POST', 'connect', 200, 'application/json', nobody],
    ]);
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'accepted' });
  });

  it('over HTTP: a Passthru whose body we cannot read asks the question again and is stored', async () => {
    const sid = 'sidbrokenbody0000000000000000001';
    const id = connectedCall(sid);
    expect(JSON.parse((await get('gather', { CallSid: sid })).body).gather_prompt.text).toContain('नमस्ते Test Vendor जी!');
    const answer = await request(`${h.baseUrl}/applet/${TOKEN}/passthru?CallSid=${sid}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"digits": "\\"1' });
    expect([answer.statusCode, await answer.body.text()]).toEqual([200, 'ask']);
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'pending', state: expect.objectContaining({ step: 'menu', noInput: 1 }) });
    expect(h.app.store.events(id).at(-1)).toMatchObject({ route: '/applet/passthru', params: { CallSid: sid, body_unreadable: 'FST_ERR_CTP_INVALID_JSON_BODY', body_text: '{"digits": "\\"1' } });
  });

  it('over HTTP: a Passthru whose JSON is not an object asks the question again, and is stored whole', async () => {
    // The keys may be in there: taken as silence, the call would end no_response on its first answer.
    const sid = 'sidarraybody00000000000000000001';
    const id = connectedCall(sid);
    await get('gather', { CallSid: sid });
    const answer = await request(`${h.baseUrl}/applet/${TOKEN}/passthru?CallSid=${sid}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[{"digits":"\\"1\\""}]' });
    expect([answer.statusCode, await answer.body.text()]).toEqual([200, 'ask']);
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'pending', state: expect.objectContaining({ step: 'menu', noInput: 1 }) });
    expect(h.app.store.events(id).at(-1)).toMatchObject({ route: '/applet/passthru', params: { CallSid: sid, body_unreadable: 'not a JSON object', body_text: '[{"digits":"\\"1\\""}]' } });
  });

  it('over HTTP: a stray % after an applet name still gets that applet\'s answer, not an error body', async () => {
    const gather = await request(`${h.baseUrl}/applet/${TOKEN}/gather%?CallSid=sidunknown`);
    expect([gather.statusCode, gather.headers['content-type']]).toEqual([200, 'application/json']);
    expect(JSON.parse(await gather.body.text())).toMatchObject({ gather_prompt: { text: APOLOGY } });
    const passthru = await request(`${h.baseUrl}/applet/${TOKEN}/passthru%`);
    expect([passthru.statusCode, await passthru.body.text()]).toEqual([302, 'end']);
    const status = await request(`${h.baseUrl}/webhook/exotel/status%`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Status=completed' });
    // The status webhook too: stored (this harness signs no URLs) and answered 200, as any unreadable callback.
    expect([status.statusCode, await status.body.json()]).toEqual([200, { success: true, matched: false }]);
    expect(h.db.prepare("SELECT route, params_json FROM call_events WHERE kind = 'exotel_request_unreadable' ORDER BY id DESC LIMIT 1").get()).toEqual({
      route: '/webhook/exotel/status%',
      params_json: JSON.stringify({ body_unreadable: 'FST_ERR_BAD_URL' }),
    });
  });

  it('over HTTP: an internal error on an English call answers each applet with the English apology', async () => {
    const sid = 'sidenglisherror00000000000000001';
    storedCall(h.app.store, { transport: 'applet', exotelCallSid: sid, language: 'en-IN', state: start(vendorOrder, 'en-IN').state });
    const spy = vi.spyOn(h.app.store, 'saveTurn').mockImplementation(() => {
      throw new Error('disk I/O error');
    });
    try {
      const gather = await request(`${h.baseUrl}/applet/${TOKEN}/gather?CallSid=${sid}`);
      expect(gather.statusCode).toBe(200);
      const sorry = 'Sorry, a technical problem is ending this call. We will contact you again.';
      expect(await gather.body.json()).toEqual(closingGather(sorry));
    } finally {
      spy.mockRestore();
    }
  });

  it('a wrong path token gets 403 and changes nothing', async () => {
    const sid = 'sidwrongtoken0000000000000000001';
    const id = connectedCall(sid);
    for (const applet of ['gather', 'passthru', 'greeting']) {
      const answer = await get(applet, { CallSid: sid, digits: '"1"' }, 'GET', 'not-the-token-0000000');
      expect(answer.statusCode).toBe(403);
    }
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'pending', lastReply: null });
    expect(h.app.store.events(id)).toEqual([]);
  });
});

describe('applet mode while the Connect answer is late', () => {
  it('the vendor who answers before it hears the question, not an apology, and their answer counts', async () => {
    // The phone rings 200 ms after the call is created; Exotel's answer to the Connect comes after 2 s, and
    // we stop waiting at 500 ms. The Gather carries no CustomField (reference §5.2) and a CallSid not stored yet.
    const late = await startHarness({ ...APPLET_MODE, EXOTEL_HTTP_TIMEOUT_MS: '500' }, { ringDelayMs: 200 });
    try {
      late.simulator.setFaults({ connect: ['hang'], hangMs: 2_000 });
      const placed = await late.trigger(order({ vendor_phone: '9000000002', order_id: 'LATE-CONNECT-1' }));
      expect(placed.body).toMatchObject({ success: true, call_id: expect.any(String) });
      const simulated = [...late.simulator.calls.values()].find((c) => c.customField === placed.body.call_id)!;
      await late.simulator.finished(simulated.sid);
      expect(simulated.problem).toBeUndefined();
      expect(simulated.requests[0]!.params).not.toHaveProperty('CustomField');
      expect(simulated.heard[0]).toBe(`${INTRO('LATE-CONNECT-1')} ${MENU}`);
      expect(simulated.heard).not.toContain(APOLOGY);
      const call = await late.settled(placed.body.call_id);
      expect(call).toMatchObject({ outcome: 'cancelled', call_sid: simulated.sid, status: 'completed' });
      // One ring: the ambiguous Connect was never dialled again.
      expect([...late.simulator.calls.values()].filter((c) => c.customField === placed.body.call_id)).toHaveLength(1);
    } finally {
      await late.close();
    }
  });
});
