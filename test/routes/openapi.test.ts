// The OpenAPI document is generated from the zod schemas that validate requests: checked here field by
// field, so the documentation cannot drift from what the API accepts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestJsonSchema } from '../../src/api/openapi.js';
import { riderDeliveryRequest } from '../../src/api/rider-delivery-request.js';
import { vendorOrderRequest } from '../../src/api/vendor-order-request.js';
import { withdrawRequest } from '../../src/api/withdraw-request.js';
import { loadConfig } from '../../src/config.js';
import { startHarness, type Harness } from '../helpers/harness.js';

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
