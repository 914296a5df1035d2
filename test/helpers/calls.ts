// A call row as the trigger API would have stored it after Exotel accepted the Connect request, for tests
// that drive one route by hand. Nothing is due on it, so the scheduler leaves it alone.
import { randomBytes } from 'node:crypto';
import { start } from '../../src/flows/engine.js';
import { vendorOrder } from '../../src/flows/vendor-order.js';
import type { CallStore, NewCall } from '../../src/store/calls.js';

const FAR_FUTURE = new Date('2100-01-01T00:00:00.000Z');
let vendors = 0;

/** `exotelCallSid: null`: the Connect request is out, its answer not stored yet. */
export function storedCall(store: CallStore, overrides: Partial<NewCall> & { exotelCallSid?: string | null } = {}) {
  const { exotelCallSid, ...fields } = overrides;
  const orderId = fields.orderId ?? `ORD-ROUTE-${randomBytes(4).toString('hex')}`;
  const call = store.create(
    {
      flow: vendorOrder.name,
      orderId,
      // A vendor of its own (9000 NNNN 01 acts as 9000000001), so no other test call keeps it busy.
      phone: `+919000${String(5000 + (vendors++ % 5000)).padStart(4, '0')}01`,
      language: 'hi-IN',
      transport: 'exoml',
      context: { vendor_name: 'Test Vendor', order_id: orderId, order_amount: 1, items: '' },
      state: start(vendorOrder).state,
      ...fields,
    },
    FAR_FUTURE,
  );
  store.transaction(() => {
    // Claimed as the dispatcher would, then answered by Exotel.
    store.reschedule(call.id, new Date(0));
    const attempt = store.claimForDial(call.id, () => {})!;
    if (exotelCallSid === null) return;
    store.attemptPlaced(call.id, attempt, exotelCallSid ?? `fakesid${randomBytes(12).toString('hex')}`, 'in-progress', FAR_FUTURE);
  });
  return store.get(call.id)!;
}

/**
 * A call whose Connect got no answer and whose call Exotel's Calls list did not show (yet): counted not
 * placed after an ambiguous Connect, to be dialled again at `dueAt`. Its first dial may still ring.
 */
export function unlistedCall(store: CallStore, dueAt: Date, overrides: Partial<NewCall> = {}) {
  const call = storedCall(store, { ...overrides, exotelCallSid: null });
  store.attemptNotPlaced(call.id, 1, 'EXOTEL_ERR_TIMEOUT', 'Exotel has no such call: dialing again', dueAt);
  return store.get(call.id)!;
}
