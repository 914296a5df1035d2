// The OpenAPI document is generated from the zod schemas that validate requests: checked here field by
// field, so the documentation cannot drift from what the API accepts.
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestJsonSchema } from '../../src/api/openapi.js';
import { riderDeliveryRequest } from '../../src/api/rider-delivery-request.js';
import { vendorOrderRequest } from '../../src/api/vendor-order-request.js';
import { withdrawRequest } from '../../src/api/withdraw-request.js';
import { loadConfig } from '../../src/config.js';
import { order, startHarness, type Harness } from '../helpers/harness.js';

type OpenApi = {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: object }> }; parameters?: Array<{ in: string; name: string; required?: boolean; schema?: unknown }> }>>;
};

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => h.close());

describe('/docs', () => {
  it('documents every API route from the zod schemas, and nothing Exotel calls', async () => {
    const response = await h.app.inject({ method: 'GET', url: '/docs/json' });
    expect(response.statusCode).toBe(200);
    const doc = response.json() as { openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> }; responses: Record<string, unknown> }>> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths).sort()).toEqual(['/api/call/rider-delivery', '/api/call/vendor-order', '/api/calls/{call_sid}', '/api/calls/{call_sid}/withdraw', '/api/orders/{order_id}/calls']);
    const vendor = doc.paths['/api/call/vendor-order']!.post!;
    expect(vendor.requestBody!.content['application/json']!.schema).toEqual(requestJsonSchema(vendorOrderRequest));
    expect(doc.paths['/api/call/rider-delivery']!.post!.requestBody!.content['application/json']!.schema).toEqual(requestJsonSchema(riderDeliveryRequest));
    expect(requestJsonSchema(vendorOrderRequest).required).toEqual(['vendor_phone', 'vendor_name', 'order_id', 'order_amount']);
    expect(Object.keys(vendor.responses).sort()).toEqual(['200', '202', '400', '401', '403', '409', '415', '422', '429', '502']);
    // The query may carry the same fields instead of the body: each there is an alternative, never required.
    const query = (vendor as { parameters?: Array<{ in: string; name: string; required?: boolean }> }).parameters!.filter((p) => p.in === 'query');
    expect(query.map((p) => p.name).sort()).toEqual(Object.keys(vendorOrderRequest.shape).sort());
    expect(query.filter((p) => p.required)).toEqual([]);
    const withdraw = doc.paths['/api/calls/{call_sid}/withdraw']!.post!;
    expect(withdraw.requestBody!.content['application/json']!.schema).toEqual(requestJsonSchema(withdrawRequest));
    expect(Object.keys(withdraw.responses).sort()).toEqual(['200', '202', '400', '401', '404', '409']);
  });

  it('documents what the API accepts: each case is valid by the document exactly when the route takes it', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/docs/json' })).json() as OpenApi;
    const vendor = new Ajv({ strict: false }).compile(doc.paths['/api/call/vendor-order']!.post!.requestBody!.content['application/json']!.schema);
    const withdraw = new Ajv({ strict: false }).compile(doc.paths['/api/calls/{call_sid}/withdraw']!.post!.requestBody!.content['application/json']!.schema);
    let n = 0;
    const cases: Array<[string, Record<string, unknown>]> = [
      ['a whole request', {}],
      ['items of 501 characters', { items: 'y'.repeat(501) }],
      ['items as a list', { items: ['Tomato 2kg', 'Onion 1kg'] }],
      ['items with a control character', { items: 'bell\u0007' }],
      ['a blank vendor name', { vendor_name: '   ' }],
      ['a vendor name with a control character', { vendor_name: 'Sharma\u0007' }],
      ['a vendor name that was not UTF-8', { vendor_name: 'Sharma \uFFFD' }],
      ['a vendor name with a bidi override', { vendor_name: 'Sharma \u202Eanaruk' }],
      ['a vendor name with a C1 control', { vendor_name: 'Sharma\u009B2J' }],
      ['a Hindi name with a zero-width joiner', { vendor_name: 'क्\u200Dष' }],
      ['a Hindi vendor name', { vendor_name: 'शर्मा किराना' }],
      ['a vendor name of 101 characters', { vendor_name: 'x'.repeat(101) }],
      ['a newline in the order id', { order_id: 'ORD\n1' }],
      ['a numeric order id', { order_id: 12345 }],
      ['a phone that is not a number', { vendor_phone: 'abc' }],
      ['a phone with +91 and spaces', { vendor_phone: '+91 98123 45678' }],
      ['a 0-prefixed phone', { vendor_phone: '09812345678' }],
      ['a 91-prefixed phone', { vendor_phone: '919812345678' }],
      ['a phone of 9 digits', { vendor_phone: '981234567' }],
      ['a US phone', { vendor_phone: '+14155550100' }],
      ['a toll-free number', { vendor_phone: '18001234567' }],
      ['a phone as a JSON number', { vendor_phone: 9812345678 }],
      ['a phone as a short JSON number', { vendor_phone: 12345 }],
      ['an amount as text', { order_amount: '550' }],
      ['an amount that is hex', { order_amount: '0x10' }],
      ['a negative amount', { order_amount: -1 }],
      ['an amount too large', { order_amount: 10_000_001 }],
      ['an empty language', { language: '' }],
      ['an unknown language', { language: 'fr-FR' }],
      ['recall as text', { recall: 'true' }],
      ['recall as yes', { recall: 'yes' }],
      ['no vendor name', { vendor_name: undefined }],
      ['a toll-free number as a JSON number', { vendor_phone: 1800123456 }],
      ['a 91-prefixed toll-free number as a JSON number', { vendor_phone: 911800123456 }],
      ['a 91-prefixed phone as a JSON number', { vendor_phone: 919812345678 }],
      ['a vendor name of 100 characters padded with spaces', { vendor_name: `  ${'x'.repeat(100)}  ` }],
      ['a vendor name with a trailing form feed', { vendor_name: 'Sharma\f' }],
      ['a vendor name with a form feed inside', { vendor_name: 'Sha\frma' }],
      ['an order id with a trailing newline', { order_id: 'ORD-NL\n' }],
      ['an order id of 64 characters padded', { order_id: ` ${'o'.repeat(64)} ` }],
      ['items of 500 characters padded', { items: `   ${'y'.repeat(500)}   ` }],
      ['items of 300 emoji', { items: '🍅'.repeat(300) }],
      ['items of 501 emoji', { items: '🍅'.repeat(501) }],
      ['blank items', { items: '   ' }],
      ['an amount of -0', { order_amount: '-0' }],
      ['an amount of 10000000', { order_amount: '10000000' }],
      ['an amount of 10000000.5', { order_amount: '10000000.5' }],
      ['an amount of 99999999999 as text', { order_amount: '99999999999' }],
      ['an amount with padding', { order_amount: ' 550.50 ' }],
      ['no amount', { order_amount: undefined }],
      ['a vendor name with half a surrogate pair', { vendor_name: 'Sharma \uD83C' }],
      ['items with half a surrogate pair', { items: ['Tomato \uDF45'] }],
      ['a vendor name of 100 emoji', { vendor_name: '🍅'.repeat(100) }],
      ['a vendor name of 101 emoji', { vendor_name: '🍅'.repeat(101) }],
      ['an order id of 64 emoji', { order_id: '🍅'.repeat(64) }],
      ['an amount a hair over the limit', { order_amount: '10000000.0000000001' }],
      ['an amount a hair under zero', { order_amount: `-0.${'0'.repeat(400)}1` }],
      ['an amount of 9999999.9999999999', { order_amount: '9999999.9999999999' }],
    ];
    for (const [name, change] of cases) {
      const body = JSON.parse(JSON.stringify(order({ order_id: `DOC-${++n}`, ...change })));
      const documented = vendor(body);
      const answer = await h.trigger(body);
      expect([name, documented], JSON.stringify(answer.body)).toEqual([name, answer.status !== 400]);
    }
    // The rider call's lists, sent as JSON lists and as a repeated form key.
    const rider = new Ajv({ strict: false }).compile(doc.paths['/api/call/rider-delivery']!.post!.requestBody!.content['application/json']!.schema);
    const riderOrder = { rider_phone: '9000000001', rider_name: 'Ravi', order_id: 'DOC-RIDER-1', pickup: ['Gate 2', 'Sector 5'], drop: ['Flat 4', 'Tower B'] };
    expect(rider(riderOrder)).toBe(true);
    const json = await h.post('/api/call/rider-delivery', riderOrder);
    // Placed, or queued behind the other calls to the same number: taken either way.
    expect([json.status === 200 || json.status === 202, json.body.code]).toEqual([true, undefined]);
    const form = await h.app.inject({
      method: 'POST',
      url: '/api/call/rider-delivery',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'rider_phone=9000000002&rider_name=Ravi&order_id=DOC-RIDER-2&pickup=Gate%202&pickup=Sector%205',
    });
    expect([form.statusCode === 200 || form.statusCode === 202, form.json().code]).toEqual([true, undefined]);
    expect(h.app.store.liveForOrder('DOC-RIDER-2', 'rider_delivery')?.context).toMatchObject({ pickup: 'Gate 2, Sector 5' });
    for (const [name, reason, valid] of [['a reason', 'shop closed', true], ['a reason of 201 characters', 'x'.repeat(201), false], ['a reason with a bell', 'bell\u0007', false]] as const) {
      const queued = await h.trigger(order({ order_id: `DOC-W-${++n}`, vendor_phone: '9000000008' }));
      const answer = await h.post(`/api/calls/${queued.body.call_id}/withdraw`, { reason });
      expect([name, withdraw({ reason }), answer.status !== 400]).toEqual([name, valid, valid]);
    }
  });

  it('documents the form body, the Idempotency-Key header and ?include=events', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/docs/json' })).json() as OpenApi;
    const vendor = doc.paths['/api/call/vendor-order']!.post!;
    expect(Object.keys(vendor.requestBody!.content).sort()).toEqual(['application/json', 'application/x-www-form-urlencoded']);
    expect(vendor.parameters!.filter((p) => p.in === 'header').map((p) => p.name)).toEqual(['idempotency-key']);
    const read = doc.paths['/api/calls/{call_sid}']!.get!;
    expect(read.parameters!.filter((p) => p.in === 'query')).toMatchObject([{ name: 'include', schema: { enum: ['events'] } }]);
  });

  it('serves the UI', async () => {
    const ui = await h.app.inject({ method: 'GET', url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toMatch(/text\/html/);
  });

  it('is off in production unless DOCS_ENABLED=true', () => {
    const secrets = { API_TOKEN: 'x'.repeat(32), WEBHOOK_SECRET: 'y'.repeat(32), NODE_ENV: 'production' };
    expect(loadConfig(secrets).docsEnabled).toBe(false);
    expect(loadConfig({ ...secrets, DOCS_ENABLED: 'true' }).docsEnabled).toBe(true);
  });
});
