// The trigger API's contract with the backend: the three ways it sends an order, the bearer token, and a
// 400 naming the field for every bad value (with nothing stored and nobody dialled).
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { order, startHarness, type Harness } from '../helpers/harness.js';

const TOKEN = 'test-api-token-0123456789abcdefghij';
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ API_TOKEN: TOKEN });
});
afterAll(async () => h.close());
const auth = { authorization: `Bearer ${TOKEN}` };
const countCalls = () => (h.db.prepare('SELECT COUNT(*) AS n FROM calls').get() as { n: number }).n;

describe('POST /api/call/vendor-order', () => {
  it('takes query parameters, as the backend sends today', async () => {
    const query = new URLSearchParams({ vendor_phone: '919000000001', vendor_name: 'Test Vendor', order_id: '12345', order_amount: '550', items: 'Tomato 2kg' });
    const response = await request(`${h.baseUrl}/api/call/vendor-order?${query}`, { method: 'POST', headers: auth });
    const body = (await response.body.json()) as any;
    expect(response.statusCode).toBe(200);
    expect(body).toEqual({ success: true, call_sid: expect.any(String), order_id: '12345', call_id: expect.any(String) });
    await h.simulator.finished(body.call_sid);
    expect((await h.get(`/api/calls/${body.call_sid}`, auth)).body.call).toMatchObject({ vendor_phone: '+919000000001', outcome: 'accepted' });
  });

  it('takes a form body', async () => {
    const response = await request(`${h.baseUrl}/api/call/vendor-order`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ vendor_phone: '09000000002', vendor_name: 'Test', order_id: 'F-1', order_amount: '10' }).toString(),
    });
    const body = (await response.body.json()) as any;
    expect(response.statusCode).toBe(200);
    const call = await h.simulator.finished(body.call_sid);
    // No items given: the greeting leaves the items out rather than saying "सामान: ।".
    expect(call.heard[0]).toBe('नमस्ते Test जी! आपके लिए एक नया ऑर्डर है। ऑर्डर नंबर F-1। राशि 10 रुपये।');
    expect((await h.get(`/api/calls/${body.call_sid}`, auth)).body.call).toMatchObject({ order_id: 'F-1', outcome: 'cancelled' });
  });

  it('takes JSON with items as a list and a numeric order id', async () => {
    const response = await h.trigger(order({ order_id: 777, items: ['Tomato 2kg', 'Onion 1kg'], vendor_phone: '+91 90000-00001' }), auth);
    expect(response.status).toBe(200);
    const call = await h.simulator.finished(response.body.call_sid);
    expect(call.heard[0]).toContain('सामान: Tomato 2kg, Onion 1kg।');
    expect(call.heard[0]).toContain('ऑर्डर नंबर 777।');
  });

  it.each([
    [{ vendor_phone: undefined }, 'vendor_phone', 'vendor_phone is required'],
    [{ vendor_phone: '12345' }, 'vendor_phone', 'vendor_phone must be an Indian mobile or landline number, e.g. +919812345678'],
    [{ vendor_phone: '+14155550100' }, 'vendor_phone', 'vendor_phone must be an Indian mobile or landline number, e.g. +919812345678'],
    [{ vendor_name: '' }, 'vendor_name', 'vendor_name is required'],
    [{ vendor_name: 'x'.repeat(101) }, 'vendor_name', 'vendor_name must be at most 100 characters'],
    [{ vendor_name: 'bad\u0007bell' }, 'vendor_name', 'vendor_name must not contain control characters'],
    [{ order_id: undefined }, 'order_id', 'order_id is required'],
    [{ order_amount: 'lots' }, 'order_amount', 'order_amount must be a number'],
    // Number() reads these as 16, 3 and 7: the vendor would hear an amount nobody sent.
    [{ order_amount: '0x10' }, 'order_amount', 'order_amount must be a number'],
    [{ order_amount: '0b11' }, 'order_amount', 'order_amount must be a number'],
    [{ order_amount: '0o7' }, 'order_amount', 'order_amount must be a number'],
    // JSON carries this as 12345678901234567000: stored, it would be another order's id.
    [{ order_id: 12345678901234567890 }, 'order_id', 'order_id is a number JSON cannot carry exactly: send it as a string'],
    [{ order_amount: -5 }, 'order_amount', 'order_amount must not be negative'],
    [{ order_amount: '' }, 'order_amount', 'order_amount is required'],
    [{ order_amount: '  ' }, 'order_amount', 'order_amount is required'],
    [{ order_amount: null }, 'order_amount', 'order_amount must be a number'],
    [{ order_amount: true }, 'order_amount', 'order_amount must be a number'],
    [{ order_id: 'A\tB' }, 'order_id', 'order_id must not contain tabs or line breaks'],
    [{ order_id: 'A\nB' }, 'order_id', 'order_id must not contain tabs or line breaks'],
    [{ items: 'y'.repeat(501) }, 'items', 'items must be at most 500 characters'],
    [{ language: 'fr-FR' }, 'language', expect.stringMatching(/^language /)],
    [{ recall: 'yes' }, 'recall', 'recall must be true or false'],
    // A C1 control (a terminal's CSI) or a bidi override (the page would show another name) is not text.
    [{ vendor_name: 'Sharma\u009B2J' }, 'vendor_name', 'vendor_name must not contain control characters'],
    [{ vendor_name: 'Sharma \u202Eanaruk' }, 'vendor_name', 'vendor_name must not contain control characters'],
    // A value of the wrong type is named as such, never "is required".
    [{ vendor_phone: true }, 'vendor_phone', 'vendor_phone must be a phone number, as text'],
    [{ vendor_name: 42.5 }, 'vendor_name', 'vendor_name must be text'],
    [{ vendor_name: undefined }, 'vendor_name', 'vendor_name is required'],
    [{ items: ['Tomato 2kg', 3] }, 'items', 'items must be text or a list of texts'],
    [{ items: { tomato: 2 } }, 'items', 'items must be text or a list of texts'],
  ])('400 for %j, naming the field', async (change, field, message) => {
    const before = countCalls();
    const response = await h.trigger(order(change), auth);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ success: false, code: 'IVR_ERR_VALIDATION', field, message });
    expect(countCalls()).toBe(before);
  });

  it('dials a landline whose STD code starts with 1 (Delhi 011)', async () => {
    const response = await h.trigger(order({ vendor_phone: '011-2345 6789', order_id: 'DELHI-1' }), auth);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const call = await h.simulator.finished(response.body.call_sid);
    expect(call.problem).toBeUndefined();
    expect((await h.get(`/api/calls/${response.body.call_sid}`, auth)).body.call).toMatchObject({ vendor_phone: '+911123456789', outcome: 'accepted' });
  });

  it.each([
    ['JSON that is a string', 'application/json', '"vendor_phone=9000000001"', 400, { code: 'IVR_ERR_VALIDATION', field: 'body', message: 'body must be a JSON object of fields' }],
    ['JSON that is a list', 'application/json', '[{"vendor_phone":"9000000001"}]', 400, { code: 'IVR_ERR_VALIDATION', field: 'body', message: 'body must be a JSON object of fields' }],
    ['a multipart body with a file', 'multipart/form-data; boundary=b', '--b\r\nContent-Disposition: form-data; name="f"; filename="order.csv"\r\n\r\nx\r\n--b--\r\n', 415, { code: 'IVR_ERR_UNSUPPORTED_MEDIA_TYPE', message: 'Files are not accepted: send the fields as JSON, a form body or query parameters' }],
  ])('%s gets an answer that says what is wrong with it', async (_name, type, body, status, answer) => {
    const before = countCalls();
    const response = await request(`${h.baseUrl}/api/call/vendor-order`, { method: 'POST', headers: { ...auth, 'content-type': type }, body });
    expect([response.statusCode, await response.body.json()]).toEqual([status, { success: false, ...answer }]);
    expect(countCalls()).toBe(before);
  });

  it('a field we do not take is ignored however it comes, even as a list', async () => {
    const response = await h.trigger({ ...order({ order_id: 'EXTRA-LIST' }), note: [['a'], ['b']] }, auth);
    expect(response.status).toBe(200);
  });

  it.each(['application/vnd.api+json', 'application/vnd.api+json; charset=utf-8'])('reads a body sent as %s as the JSON it is', async (type) => {
    const body = order({ order_id: `ORD-PLUSJSON-${type.length}`, vendor_phone: '9000000008' });
    const response = await request(`${h.baseUrl}/api/call/vendor-order`, { method: 'POST', headers: { ...auth, 'content-type': type }, body: JSON.stringify(body) });
    const answer = (await response.body.json()) as Record<string, unknown>;
    expect([200, 202]).toContain(response.statusCode);
    expect(answer).toMatchObject({ success: true, order_id: body.order_id });
    expect(h.app.store.get(answer.call_id as string)).toMatchObject({ orderId: body.order_id, phone: '+919000000008' });
    const bad = await request(`${h.baseUrl}/api/call/vendor-order`, { method: 'POST', headers: { ...auth, 'content-type': type }, body: '{"vendor_phone":' });
    expect([bad.statusCode, ((await bad.body.json()) as { code: string }).code]).toEqual([400, 'FST_ERR_CTP_INVALID_JSON_BODY']);
  });

  it('a name whose bytes are not UTF-8 is refused from a form body or the query, as from JSON; a Hindi name in either is stored as sent', async () => {
    const fields = (name: string, id: string) => `vendor_phone=9000000008&vendor_name=${name}&order_id=${id}&order_amount=550`;
    const before = countCalls();
    for (const [how, name] of [['form', 'Sharma%E0%A4'], ['query', 'Sharma%FF'], ['form', 'Caf%E9']] as const) {
      const query = how === 'query' ? `?${fields(name, 'ORD-BYTES-Q')}` : '';
      const response = await request(`${h.baseUrl}/api/call/vendor-order${query}`, {
        method: 'POST',
        headers: { ...auth, ...(how === 'form' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        body: how === 'form' ? fields(name, 'ORD-BYTES-F') : undefined,
      });
      expect([how, name, response.statusCode, await response.body.json()]).toEqual([how, name, 400, { success: false, code: 'IVR_ERR_VALIDATION', field: 'vendor_name', message: 'vendor_name must be valid UTF-8 text' }]);
    }
    // JSON can carry half of a surrogate pair ("\uD83C"), which has no UTF-8 at all: refused the same way.
    for (const [field, value] of [['vendor_name', 'Sharma \uD83C'], ['items', ['Tomato \uDF45']]] as const) {
      const response = await h.trigger(order({ order_id: 'ORD-BYTES-J', [field]: value }), auth);
      expect([field, response.status, response.body]).toEqual([field, 400, { success: false, code: 'IVR_ERR_VALIDATION', field, message: `${field} must be valid UTF-8 text` }]);
    }
    expect(countCalls()).toBe(before);
    const hindi = encodeURIComponent('शर्मा किराना');
    for (const how of ['form', 'query']) {
      const id = `ORD-HINDI-${how}`;
      const response = await request(`${h.baseUrl}/api/call/vendor-order${how === 'query' ? `?${fields(hindi, id)}` : ''}`, {
        method: 'POST',
        headers: { ...auth, ...(how === 'form' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        body: how === 'form' ? fields(hindi, id) : undefined,
      });
      const answer = (await response.body.json()) as { call_id: string };
      expect([200, 202]).toContain(response.statusCode);
      expect(h.app.store.get(answer.call_id)!.context).toMatchObject({ vendor_name: 'शर्मा किराना' });
    }
  });

  it('400 for malformed JSON', async () => {
    const response = await request(`${h.baseUrl}/api/call/vendor-order`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"vendor_phone":' });
    expect(response.statusCode).toBe(400);
    expect(await response.body.json()).toMatchObject({ success: false, code: 'FST_ERR_CTP_INVALID_JSON_BODY' });
  });

  it.each([
    ['no header', {}],
    ['a wrong token', { authorization: 'Bearer wrong-token' }],
    ['a Basic header', { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }],
  ])('401 with %s, and nobody is dialled', async (_name, headers) => {
    const before = countCalls();
    const response = await h.trigger(order(), headers);
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ success: false, code: 'IVR_ERR_UNAUTHORIZED', message: 'Missing or invalid bearer token' });
    expect(countCalls()).toBe(before);
    const read = await request(`${h.baseUrl}/api/orders/ORD-TEST-1/calls`, { headers });
    expect(read.statusCode).toBe(401);
    expect(read.headers['www-authenticate']).toBe('Bearer realm="exotel-caller"');
    await read.body.dump();
  });

  it('an order id the trigger takes can be read back and found on /ops, however many UTF-16 units its characters take', async () => {
    const orderId = '🍅'.repeat(64); // 64 characters, the most an order id has; 128 UTF-16 units
    const placed = await h.trigger(order({ order_id: orderId, vendor_phone: '9000000008' }), auth);
    expect([200, 202]).toContain(placed.status);
    const read = await h.get(`/api/orders/${encodeURIComponent(orderId)}/calls`, auth);
    expect(read.status).toBe(200);
    expect(read.body.calls.map((c: { call_id: string }) => c.call_id)).toEqual([placed.body.call_id]);
    const found = await h.app.inject({ method: 'GET', url: `/ops?q=${encodeURIComponent(orderId)}`, headers: auth });
    expect(found.body).toContain(`/ops/calls/${placed.body.call_id}`);
  });

  it('read-back answers 404 for an unknown call', async () => {
    const response = await h.get('/api/calls/nosuchcall', auth);
    expect(response).toEqual({ status: 404, body: { success: false, code: 'IVR_ERR_NOT_FOUND', message: 'No call nosuchcall' } });
  });
});
