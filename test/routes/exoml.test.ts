// The ExoML routes on their own: every way Exotel sends digits, repeats, refusals, previews, hostile text
// and internal failures. Each answer is read as Exotel's player would (strict XML, <Response> root).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { request } from 'undici';
import { start } from '../../src/flows/engine.js';
import { vendorOrder } from '../../src/flows/vendor-order.js';
import { readExoml, type ExomlNode } from '../../src/simulator/exoml-reader.js';
import { storedCall } from '../helpers/calls.js';
import { order, startHarness, type Harness } from '../helpers/harness.js';

const APOLOGY = 'क्षमा करें, तकनीकी समस्या के कारण कॉल समाप्त की जा रही है। हम आपसे फिर संपर्क करेंगे।';

function verbs(xml: string): ExomlNode[] {
  const read = readExoml(xml);
  if ('error' in read) throw new Error(`${read.error}: ${xml}`);
  return read.verbs;
}
const shape = (xml: string) => verbs(xml).map((v) => (v.name === 'Say' ? `Say:${v.text}` : v.name));

describe('ExoML routes without a secret (development)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h.close());

  /** A call that is waiting at its greeting: placed through the simulator's "no input" vendor but not yet run. */
  const waitingCall = () => storedCall(h.app.store).id;
  const inject = (method: 'GET' | 'POST', url: string, payload?: string | Record<string, string>, contentType?: string) =>
    h.app.inject({ method, url, ...(payload === undefined ? {} : { payload }), ...(contentType ? { headers: { 'content-type': contentType } } : {}) });

  it.each([
    ['Digits in a form body', 'POST', (id: string) => [`/exoml/vendor-action?call=${id}&turn=1`, 'Digits=1', 'application/x-www-form-urlencoded']],
    ['DigitsPressed in a form body', 'POST', (id: string) => [`/exoml/vendor-action?call=${id}&turn=1`, 'DigitsPressed=1', 'application/x-www-form-urlencoded']],
    ['quoted digits in the query', 'GET', (id: string) => [`/exoml/vendor-action?call=${id}&turn=1&digits=%221%22`]],
    ['an empty Digits beside DigitsPressed', 'POST', (id: string) => [`/exoml/vendor-action?call=${id}&turn=1`, 'Digits=&DigitsPressed=1', 'application/x-www-form-urlencoded']],
    ['a repeated Digits whose first value is empty', 'POST', (id: string) => [`/exoml/vendor-action?call=${id}&turn=1`, 'Digits=&Digits=%221%22', 'application/x-www-form-urlencoded']],
    ['an empty digits in the query and the keys in the body', 'POST', (id: string) => [`/exoml/vendor-action?call=${id}&turn=1&digits=`, 'digits=%221%22', 'application/x-www-form-urlencoded']],
    ['an empty digits in the query and a repeated one in the body', 'POST', (id: string) => [`/exoml/vendor-action?call=${id}&turn=1&digits=`, 'digits=&digits=%221%22', 'application/x-www-form-urlencoded']],
    ['an empty Digits in the query and a JSON list', 'POST', (id: string) => [`/exoml/vendor-action?call=${id}&turn=1&Digits=`, JSON.stringify({ Digits: ['', '1'] }), 'application/json']],
    ['Digits with the finish key in JSON', 'POST', (id: string) => [`/exoml/vendor-action?call=${id}&turn=1`, JSON.stringify({ Digits: '1#' }), 'application/json']],
    ['Digits in a multipart body', 'POST', (id: string) => [
      `/exoml/vendor-action?call=${id}&turn=1`,
      '--b\r\nContent-Disposition: form-data; name="Digits"\r\n\r\n"1"\r\n--b--\r\n',
      'multipart/form-data; boundary=b',
    ]],
  ] as const)('accepts %s', async (_name, method, build) => {
    const id = waitingCall();
    const [url, payload, type] = build(id) as [string, string?, string?];
    const answer = await inject(method, url, payload, type);
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['content-type']).toBe('application/xml; charset=utf-8');
    expect(shape(answer.body)).toEqual(['Say:धन्यवाद! ऑर्डर स्वीकार हो गया है।', 'Hangup']);
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'accepted' });
  });

  it('a field in both the query and the body keeps both values on the timeline', async () => {
    const id = waitingCall();
    const answer = await inject('POST', `/exoml/vendor-action?call=${id}&turn=1&digits=`, 'digits=%221%22', 'application/x-www-form-urlencoded');
    expect(answer.statusCode).toBe(200);
    expect(h.app.store.events(id).map((e) => [e.digits, e.params])).toEqual([['1', { call: id, turn: '1', digits: '', 'digits[1]': '"1"' }]]);
  });

  it('a repeated request gets the same answer and is not applied twice', async () => {
    const id = waitingCall();
    const url = `/exoml/vendor-action?call=${id}&turn=1`;
    const first = await inject('POST', url, { Digits: '7' });
    const again = await inject('POST', url, { Digits: '7' });
    expect(again.body).toBe(first.body);
    expect(h.app.store.get(id)!.state).toMatchObject({ turn: 2, invalid: 1 });
    // An older turn's URL with other keys changes nothing either.
    const late = await inject('POST', url, { Digits: '2' });
    expect(late.body).toBe(first.body);
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'pending' });
    const kinds = h.app.store.events(id).map((e) => e.kind);
    expect(kinds).toEqual(['exotel_request', 'exotel_request_replayed', 'exotel_request_replayed']);
    // Ops read the late 2 as a key that changed nothing, not as the vendor cancelling.
    const page = (await h.app.inject({ method: 'GET', url: `/ops/calls/${id}` })).body;
    expect(page.match(/Pressed \d at \w+[^<]*/g)).toEqual(['Pressed 7 at menu', 'Pressed 7 at menu (a repeat: changed nothing)', 'Pressed 2 at menu (a repeat: changed nothing)']);
    const read = (await h.app.inject({ method: 'GET', url: `/api/calls/${id}?include=events` })).json();
    expect(read.call.events.map((e: { pressed: string; note: string | null }) => [e.pressed, e.note])).toEqual([['7', null], ['7', 'a repeat: changed nothing'], ['2', 'a repeat: changed nothing']]);
  });

  it('HEAD on a step takes no turn: the XML headers, no body, and the keys that follow still count', async () => {
    const id = waitingCall();
    const head = await h.app.inject({ method: 'HEAD', url: `/exoml/vendor-action?call=${id}&turn=1` });
    expect([head.statusCode, head.headers['content-type'], head.body]).toEqual([200, 'application/xml; charset=utf-8', '']);
    expect(h.app.store.get(id)!.state).toMatchObject({ step: 'menu', turn: 1, noInput: 0 });
    expect(h.app.store.events(id).map((e) => e.kind)).toEqual(['exotel_probe']);
    const answer = await inject('POST', `/exoml/vendor-action?call=${id}&turn=1`, { Digits: '1' });
    expect(shape(answer.body)).toEqual(['Say:धन्यवाद! ऑर्डर स्वीकार हो गया है।', 'Hangup']);
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'accepted' });
  });

  it('keys that arrive just after the final status still count: the call settles after the grace, with them', async () => {
    const call = storedCall(h.app.store);
    await inject('GET', `/exoml/vendor-greeting?call=${call.id}`);
    const status = await h.app.inject({ method: 'POST', url: `/webhook/exotel/status?call=${call.id}&attempt=1`, payload: { CallSid: call.exotelCallSid!, Status: 'completed' } });
    expect(status.statusCode).toBe(200);
    // Not settled yet: the request with the vendor's last keys may still be on its way.
    expect(h.app.store.get(call.id)).toMatchObject({ status: 'completed', outcome: 'pending', settledAt: null });
    expect(h.app.outbox.forCall(call.id)).toEqual([]);
    const late = await inject('POST', `/exoml/vendor-action?call=${call.id}&turn=1`, { Digits: '1' });
    expect(shape(late.body)).toEqual(['Say:धन्यवाद! ऑर्डर स्वीकार हो गया है।', 'Hangup']);
    await vi.waitFor(() => expect(h.app.store.get(call.id)!.settledAt).not.toBeNull(), { timeout: 5_000 });
    expect(h.app.store.get(call.id)).toMatchObject({ outcome: 'accepted' });
    expect(h.app.outbox.forCall(call.id).map((row) => row.payload.outcome)).toEqual(['accepted']);
  });

  it('a call settled while its question waits hears the apology, not the question again', async () => {
    const call = storedCall(h.app.store);
    await inject('GET', `/exoml/vendor-greeting?call=${call.id}`);
    const status = await h.app.inject({ method: 'POST', url: `/webhook/exotel/status?call=${call.id}&attempt=1`, payload: { CallSid: call.exotelCallSid!, Status: 'completed' } });
    expect(status.statusCode).toBe(200);
    // After the grace for late keys (LATE_KEYS_GRACE_SECONDS) the silence is the answer.
    await vi.waitFor(() => expect(h.app.store.get(call.id)!.settledAt).not.toBeNull(), { timeout: 5_000 });
    const late = await inject('POST', `/exoml/vendor-action?call=${call.id}&turn=1`, { Digits: '1' });
    expect(shape(late.body)).toEqual([`Say:${APOLOGY}`, 'Hangup']);
    expect(h.app.store.get(call.id)).toMatchObject({ outcome: 'no_response' });
    expect(h.app.store.events(call.id).map((e) => e.kind).at(-1)).toBe('exotel_request_after_settled');
  });

  it("the log says 'Vendor pressed' only for keys that counted (ops count them with journalctl -g)", async () => {
    const lines: string[] = [];
    const logged = await startHarness({ LOG_LEVEL: 'info' }, { logLines: lines });
    try {
      const id = storedCall(logged.app.store).id;
      const url = `/exoml/vendor-action?call=${id}&turn=1`;
      for (const digits of ['7', '7', '2']) await logged.app.inject({ method: 'POST', url, payload: { Digits: digits } });
      const mine = lines.map((l) => JSON.parse(l) as { msg: string; call_id?: string; step?: string; pressed?: string }).filter((l) => l.call_id === id);
      expect(mine.map((l) => [l.msg, l.step, l.pressed])).toEqual([
        ['Vendor pressed: 7', 'menu', undefined],
        ['repeated or late ExoML request: nothing changed', 'menu', '7'],
        ['repeated or late ExoML request: nothing changed', 'menu', '2'],
      ]);
    } finally {
      await logged.close();
    }
  });

  it('a bare # after the silences the menu allows is asked again, not taken as a third silence', async () => {
    const id = waitingCall();
    await inject('GET', `/exoml/vendor-greeting?call=${id}`);
    // Two silences: our Redirect after each Gather, no Digits.
    await inject('POST', `/exoml/vendor-action?call=${id}&turn=1`, {});
    const silence = await inject('POST', `/exoml/vendor-action?call=${id}&turn=2`, {});
    expect(shape(silence.body)).toEqual(['Say:हमें आपका जवाब नहीं मिला।', 'Gather', 'Redirect']);
    // The # hears what a silence within the allowance hears, for the next turn.
    const hash = await inject('POST', `/exoml/vendor-action?call=${id}&turn=3`, { Digits: '#' });
    expect(hash.body).toBe(silence.body.replaceAll('turn=3', 'turn=4'));
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'pending', state: { step: 'menu', turn: 4, noInput: 0, invalid: 0 } });
    // The press stored as it came, no digits of its own in the read-back.
    expect(h.app.store.events(id).filter((e) => e.kind === 'exotel_request').map((e) => e.digits)).toEqual([null, null, null, null]);
    const answer = await inject('POST', `/exoml/vendor-action?call=${id}&turn=4`, { Digits: '1' });
    expect(shape(answer.body)).toEqual(['Say:धन्यवाद! ऑर्डर स्वीकार हो गया है।', 'Hangup']);
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'accepted' });
  });

  it('digits sent to a finished call change nothing', async () => {
    const id = waitingCall();
    await inject('POST', `/exoml/vendor-action?call=${id}&turn=1`, { Digits: '2' });
    const after = await inject('POST', `/exoml/vendor-action?call=${id}&turn=2`, { Digits: '1' });
    expect(shape(after.body)).toEqual(['Say:ऑर्डर रद्द कर दिया गया है। धन्यवाद।', 'Hangup']);
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'cancelled' });
  });

  it('keys that are too long, not digits, or control characters count as an invalid answer', async () => {
    for (const digits of ['12345678901234567890', '*', '1\u0000', 'abc']) {
      const id = waitingCall();
      const answer = await inject('POST', `/exoml/vendor-action?call=${id}&turn=1`, { Digits: digits });
      expect(shape(answer.body)).toEqual(['Say:यह विकल्प मान्य नहीं है।', 'Gather', 'Redirect']);
    }
  });

  it('an unknown call or step answers an apology and a hang-up, never an error', async () => {
    for (const url of ['/exoml/vendor-action?call=call_unknown&turn=1', '/exoml/no-such-step?call=x']) {
      const answer = await inject('POST', url, { Digits: '1' });
      expect(answer.statusCode).toBe(200);
      expect(shape(answer.body)).toEqual([`Say:${APOLOGY}`, 'Hangup']);
    }
  });

  it('over HTTP: a trailing slash reaches its step, an ExoML URL we do not serve gets the apology, other paths a JSON 404', async () => {
    const id = waitingCall();
    const slashed = await request(`${h.baseUrl}/exoml/vendor-action/?call=${id}&turn=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Digits=2',
    });
    expect([slashed.statusCode, slashed.headers['content-type']]).toEqual([200, 'application/xml; charset=utf-8']);
    expect(shape(await slashed.body.text())).toEqual(['Say:ऑर्डर रद्द कर दिया गया है। धन्यवाद।', 'Hangup']);
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'cancelled' });
    for (const method of ['GET', 'POST'] as const) {
      const unserved = await request(`${h.baseUrl}/exoml/vendor-action/extra?call=${id}&turn=2`, { method });
      expect([unserved.statusCode, unserved.headers['content-type']]).toEqual([200, 'application/xml; charset=utf-8']);
      expect(shape(await unserved.body.text())).toEqual([`Say:${APOLOGY}`, 'Hangup']);
    }
    const other = await request(`${h.baseUrl}/api/no-such-route`);
    expect([other.statusCode, await other.body.json()]).toEqual([404, { success: false, code: 'IVR_ERR_NOT_FOUND', message: 'No route GET /api/no-such-route' }]);
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'cancelled' });
  });

  it('a one-segment ExoML URL we do not serve is logged as one, and apologises in the call\'s language', async () => {
    const lines: string[] = [];
    const typo = await startHarness({ LOG_LEVEL: 'info' }, { logLines: lines });
    try {
      const call = storedCall(typo.app.store, { language: 'en-IN', state: start(vendorOrder, 'en-IN').state });
      const answer = await request(`${typo.baseUrl}/exoml/vendor-actoin?call=${call.id}&turn=1`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Digits=1' });
      expect([answer.statusCode, answer.headers['content-type']]).toEqual([200, 'application/xml; charset=utf-8']);
      expect(shape(await answer.body.text())).toEqual(['Say:Sorry, a technical problem is ending this call. We will contact you again.', 'Hangup']);
      const logged = lines.map((l) => JSON.parse(l) as { level: number; msg: string; route?: string }).filter((l) => l.msg.startsWith('Exotel asked for a URL we do not serve'));
      expect(logged).toMatchObject([{ level: 50, route: '/exoml/vendor-actoin' }]);
      expect(typo.app.store.get(call.id)).toMatchObject({ outcome: 'pending' });
    } finally {
      await typo.close();
    }
  });

  it('over HTTP: a JSON body that is empty or broken is stored, and the vendor is asked again, not hung up on', async () => {
    const id = waitingCall();
    const post = async (turn: number, body: string) => {
      const response = await request(`${h.baseUrl}/exoml/vendor-action?call=${id}&turn=${turn}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect([response.statusCode, response.headers['content-type']]).toEqual([200, 'application/xml; charset=utf-8']);
      return shape(await response.body.text());
    };
    expect((await post(1, ''))[0]).toBe('Say:हमें आपका जवाब नहीं मिला।');
    expect((await post(2, '{"Digits": "1"'))[0]).toBe('Say:हमें आपका जवाब नहीं मिला।');
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'pending', state: expect.objectContaining({ turn: 3, noInput: 2 }) });
    expect(h.app.store.events(id).map((e) => e.params)).toEqual([
      { call: id, turn: '1' },
      { call: id, turn: '2', body_unreadable: 'FST_ERR_CTP_INVALID_JSON_BODY', body_text: '{"Digits": "1"' },
    ]);
  });

  const deep = `{"Digits":"1","x":${'['.repeat(5_000)}${']'.repeat(5_000)}}`;
  it.each([
    ['JSON that is not an object', 'application/json', '[{"Digits":"1"}]', 'not a JSON object'],
    ['JSON nested thousands deep', 'application/json', deep, 'JSON nested too deeply'],
    ['text that is neither JSON nor a form', 'text/plain', 'digits: 1', 'neither JSON nor a form'],
    ['XML', 'application/xml', '<Digits>1</Digits>', 'neither JSON nor a form'],
    ['a JSON array sent as text', 'text/plain', '[1]', 'not a JSON object'],
  ])('over HTTP: %s is stored whole, and the vendor is asked again, not taken as silent', async (_name, type, body, reason) => {
    const id = waitingCall();
    const response = await request(`${h.baseUrl}/exoml/vendor-action?call=${id}&turn=1`, { method: 'POST', headers: { 'content-type': type }, body });
    expect([response.statusCode, response.headers['content-type']]).toEqual([200, 'application/xml; charset=utf-8']);
    expect(shape(await response.body.text())).toEqual(['Say:हमें आपका जवाब नहीं मिला।', 'Gather', 'Redirect']);
    expect(h.app.store.events(id).map((e) => e.params)).toEqual([{ call: id, turn: '1', body_unreadable: reason, body_text: body }]);
    // Not a final silence: the question stands.
    expect(h.app.store.get(id)).toMatchObject({ outcome: 'pending', state: expect.objectContaining({ noInput: 1 }) });
  });

  it('over HTTP: a multipart body whose boundary matches nothing is marked unreadable, not read as no keys', async () => {
    const id = waitingCall();
    const response = await request(`${h.baseUrl}/exoml/vendor-action?call=${id}&turn=1`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=other' },
      body: '--b\r\nContent-Disposition: form-data; name="Digits"\r\n\r\n1\r\n--b--\r\n',
    });
    expect(response.statusCode).toBe(200);
    expect(shape(await response.body.text())[0]).toBe('Say:हमें आपका जवाब नहीं मिला।');
    expect(h.app.store.events(id).map((e) => e.params)).toEqual([{ call: id, turn: '1', body_unreadable: 'multipart body without fields' }]);
  });

  it('over HTTP: a path with a stray % still gets the apology on an ExoML step, our JSON error elsewhere', async () => {
    const step = await request(`${h.baseUrl}/exoml/vendor-greeting%`);
    expect([step.statusCode, step.headers['content-type']]).toEqual([200, 'application/xml; charset=utf-8']);
    expect(shape(await step.body.text())).toEqual([`Say:${APOLOGY}`, 'Hangup']);
    const api = await request(`${h.baseUrl}/api/calls/%zz`);
    expect([api.statusCode, await api.body.json()]).toEqual([400, { success: false, code: 'FST_ERR_BAD_URL', message: expect.any(String) }]);
  });

  it('an internal error still answers 200 with a valid apology', async () => {
    const id = waitingCall();
    const spy = vi.spyOn(h.app.store, 'saveTurn').mockImplementation(() => {
      throw new Error('disk I/O error');
    });
    try {
      const answer = await inject('POST', `/exoml/vendor-action?call=${id}&turn=1`, { Digits: '1' });
      expect(answer.statusCode).toBe(200);
      expect(shape(answer.body)).toEqual([`Say:${APOLOGY}`, 'Hangup']);
    } finally {
      spy.mockRestore();
    }
  });

  it('an internal error on a call in English answers the apology in English', async () => {
    const id = storedCall(h.app.store, { language: 'en-IN', state: start(vendorOrder, 'en-IN').state }).id;
    const spy = vi.spyOn(h.app.store, 'saveTurn').mockImplementation(() => {
      throw new Error('disk I/O error');
    });
    try {
      const answer = await request(`${h.baseUrl}/exoml/vendor-action?call=${id}&turn=1`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Digits=1' });
      expect(answer.statusCode).toBe(200);
      const [sayApology, hangup] = verbs(await answer.body.text());
      expect([sayApology!.text, sayApology!.attrs.language, hangup!.name]).toEqual(['Sorry, a technical problem is ending this call. We will contact you again.', 'en-IN', 'Hangup']);
    } finally {
      spy.mockRestore();
    }
  });

  it('a body of an unexpected type still gets a document', async () => {
    const id = waitingCall();
    const answer = await inject('POST', `/exoml/vendor-action?call=${id}&turn=1`, '\u00ff\u00fe garbage', 'application/octet-stream');
    expect(answer.statusCode).toBe(200);
    expect(shape(answer.body)[0]).toBe('Say:हमें आपका जवाब नहीं मिला।');
  });

  it('renders the greeting straight from the query, as the seed\'s curl check did', async () => {
    const answer = await inject('GET', '/exoml/vendor-greeting?order_id=999&vendor_name=Test&amount=100');
    const [sayIntro, gather, redirect] = verbs(answer.body);
    expect(sayIntro!.text).toBe('नमस्ते Test जी! आपके लिए एक नया ऑर्डर है। ऑर्डर नंबर 999। राशि 100 रुपये।');
    expect(gather!.attrs).toEqual({ action: `${h.baseUrl}/exoml/vendor-action`, method: 'POST', numDigits: '1', timeout: '6' });
    expect(redirect!.text).toBe(`${h.baseUrl}/exoml/vendor-action`);
  });

  it.each([
    ['XML metacharacters', `& < > " ' ]]> <!--`],
    ['Devanagari', 'राम किराना स्टोर'],
    ['500 characters', 'क'.repeat(250) + 'a&'.repeat(125)],
    ['control characters and a non-character', 'A\u0001B\u0008C\uFFFED'],
  ])('a vendor name with %s gives well-formed XML that says it back', async (_name, name) => {
    const answer = await inject('GET', `/exoml/vendor-greeting?vendor_name=${encodeURIComponent(name)}&order_id=1&amount=1`);
    const [sayIntro] = verbs(answer.body);
    const spoken = name.replace(/[\u0001\u0008\uFFFE]/g, '');
    expect(sayIntro!.text).toBe(`नमस्ते ${spoken} जी! आपके लिए एक नया ऑर्डर है। ऑर्डर नंबर 1। राशि 1 रुपये।`);
  });

  it('says the items only when the order has some', async () => {
    const withItems = verbs((await inject('GET', '/exoml/vendor-greeting?order_id=7&vendor_name=A&amount=5&items=Dal%201kg')).body)[0]!.text;
    expect(withItems).toBe('नमस्ते A जी! आपके लिए एक नया ऑर्डर है। ऑर्डर नंबर 7। राशि 5 रुपये। सामान: Dal 1kg।');
    const blank = verbs((await inject('GET', '/exoml/vendor-greeting?order_id=7&vendor_name=A&amount=5&items=%20')).body)[0]!.text;
    expect(blank).toBe('नमस्ते A जी! आपके लिए एक नया ऑर्डर है। ऑर्डर नंबर 7। राशि 5 रुपये।');
  });

  it('bytes that are not UTF-8 in the query still give a well-formed greeting', async () => {
    const answer = await inject('GET', '/exoml/vendor-greeting?vendor_name=%ED%A0%80%FF%C3&order_id=%FE&amount=1');
    expect(answer.statusCode).toBe(200);
    expect(verbs(answer.body).map((v) => v.name)).toEqual(['Say', 'Gather', 'Redirect']);
  });

  it('hostile names given to the trigger API come back intact in a real call', async () => {
    const name = `Sharma & Sons <"Kirana"> 'राम'`;
    const placed = await h.trigger(order({ vendor_name: name, vendor_phone: '9000777701', order_id: 'ORD-HOSTILE' }));
    const call = await h.simulator.finished(placed.body.call_sid);
    expect(call.problem).toBeUndefined();
    expect(call.heard[0]).toContain(`नमस्ते ${name} जी!`);
  });
});

describe('ExoML routes with WEBHOOK_SECRET set', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ WEBHOOK_SECRET: 'test-webhook-secret-0123456789abcdef' });
  });
  afterAll(async () => h.close());

  it('a whole call runs on signed URLs', async () => {
    const placed = await h.trigger(order({ vendor_phone: '9000000003' }));
    const call = await h.simulator.finished(placed.body.call_sid);
    expect(call.problem).toBeUndefined();
    expect(call.url).toMatch(/\/exoml\/vendor-greeting\?call=call_[\w-]+&ts=\d{10}&sig=[\w-]{43}$/);
    expect(call.statusCallback).toMatch(/\/webhook\/exotel\/status\?call=call_[\w-]+&attempt=1&ts=\d{10}&sig=[\w-]{43}$/);
    expect(await h.settled(placed.body.call_sid)).toMatchObject({ outcome: 'accepted', prep_time_minutes: 20, status: 'completed' });
  });

  it('an unsigned request with a body we cannot read is refused and stores nothing', async () => {
    const count = () => (h.db.prepare('SELECT COUNT(*) AS n FROM call_events').get() as { n: number }).n;
    const before = count();
    for (const url of ['/webhook/exotel/status?call=call_nobody&attempt=1', '/exoml/vendor-action?call=call_nobody&turn=1']) {
      const response = await request(`${h.baseUrl}${url}`, { method: 'POST', headers: { 'content-type': 'multipart/form-data' }, body: '--x--' });
      expect(response.statusCode, url).toBe(url.startsWith('/exoml/') ? 200 : 400);
      await response.body.dump();
    }
    expect(count()).toBe(before);
  });

  it('unsigned, tampered and borrowed URLs get 403 and change nothing', async () => {
    const a = storedCall(h.app.store, { orderId: 'ORD-A' });
    const b = storedCall(h.app.store, { orderId: 'ORD-B' });
    const signedForA = new URL(h.app.links.exomlStep('vendor-action', { call: a.id, turn: '1' }));
    const sig = signedForA.searchParams.get('sig')!;
    const attempts = [
      `/exoml/vendor-action?call=${a.id}&turn=1`, // unsigned
      `/exoml/vendor-action?call=${a.id}&turn=2&sig=${sig}`, // tampered turn
      `/exoml/vendor-action?call=${b.id}&turn=1&sig=${sig}`, // A's signature on B
      `/exoml/vendor-processing-time?call=${a.id}&turn=1&sig=${sig}`, // another step
      `/exoml/vendor-action?call=${a.id}&call=${b.id}&turn=1&sig=${sig}`, // a repeated own parameter
      '/exoml/vendor-greeting?order_id=999&vendor_name=Test&amount=100', // the development preview
    ];
    for (const url of attempts) {
      const answer = await h.app.inject({ method: 'POST', url, payload: { Digits: '2' } });
      expect(answer.statusCode, url).toBe(403);
      expect(shape(answer.body)).toEqual([`Say:${APOLOGY}`, 'Hangup']);
    }
    const status = await h.app.inject({ method: 'POST', url: `/webhook/exotel/status?call=${a.id}`, payload: { CallSid: 'x', Status: 'completed' } });
    expect(status.statusCode).toBe(403);
    for (const id of [a.id, b.id]) {
      expect(h.app.store.get(id)).toMatchObject({ outcome: 'pending', status: 'in-progress', lastReply: null });
      expect(h.app.store.events(id)).toEqual([]);
    }
    // The genuine URL still works afterwards.
    const genuine = await h.app.inject({ method: 'POST', url: signedForA.pathname + signedForA.search, payload: { Digits: '2' } });
    expect(genuine.statusCode).toBe(200);
    expect(h.app.store.get(a.id)).toMatchObject({ outcome: 'cancelled' });
  });
});
