// A call row as the trigger API would have stored it, for tests that drive one route by hand.
import { start } from '../../src/flows/engine.js';
import { vendorOrder } from '../../src/flows/vendor-order.js';
import type { CallStore, NewCall } from '../../src/store/calls.js';

export function storedCall(store: CallStore, overrides: Partial<NewCall> & { exotelCallSid?: string } = {}) {
  const { exotelCallSid, ...fields } = overrides;
  const orderId = fields.orderId ?? 'ORD-TEST-ROUTE';
  const call = store.create({
    flow: vendorOrder.name,
    orderId,
    phone: '+919000000001',
    language: 'hi-IN',
    transport: 'exoml',
    context: { vendor_name: 'Test Vendor', order_id: orderId, order_amount: 1, items: '' },
    state: start(vendorOrder).state,
    ...fields,
  });
  if (exotelCallSid) store.attemptPlaced(call.id, store.beginAttempt(call.id), exotelCallSid, 'in-progress');
  return store.get(call.id)!;
}
