// Every kind of call the backend can ask for: its API path, its flow, its request schema and how a valid
// request becomes a call. A new conversation is a flow plus one entry here; the trigger route is shared.
import type { z } from 'zod';
import { riderDelivery } from '../flows/rider-delivery.js';
import type { Flow, Language } from '../flows/types.js';
import { vendorOrder } from '../flows/vendor-order.js';
import { riderDeliveryRequest } from './rider-delivery-request.js';
import { vendorOrderRequest } from './vendor-order-request.js';

export interface CallRequestKind {
  /** POST /api/call/<path> */
  path: string;
  flow: Flow;
  schema: z.ZodType;
  /** The request field holding the number to dial (named in errors). */
  phoneField: string;
  /** The parts of a valid request the call is made of. */
  toCall(request: never): { orderId: string; phone: string; language: Language | undefined; recall: boolean; context: Record<string, string | number> };
}

const kinds = [
  {
    path: 'vendor-order',
    flow: vendorOrder,
    schema: vendorOrderRequest,
    phoneField: 'vendor_phone',
    toCall: (r: z.infer<typeof vendorOrderRequest>) => ({
      orderId: r.order_id,
      phone: r.vendor_phone,
      language: r.language,
      recall: r.recall,
      context: { vendor_name: r.vendor_name, order_id: r.order_id, order_amount: r.order_amount, items: r.items },
    }),
  },
  {
    path: 'rider-delivery',
    flow: riderDelivery,
    schema: riderDeliveryRequest,
    phoneField: 'rider_phone',
    toCall: (r: z.infer<typeof riderDeliveryRequest>) => ({
      orderId: r.order_id,
      phone: r.rider_phone,
      language: r.language,
      recall: r.recall,
      context: { rider_name: r.rider_name, order_id: r.order_id, pickup: r.pickup, drop: r.drop },
    }),
  },
];

export const CALL_REQUESTS: CallRequestKind[] = kinds as unknown as CallRequestKind[];
