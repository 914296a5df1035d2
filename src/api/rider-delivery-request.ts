// What the backend sends to ask for a rider delivery call: JSON, a form body or query parameters.
import { z } from 'zod';
import { callRequestFields } from './vendor-order-request.js';

export const riderDeliveryRequest = z.object({
  rider_phone: callRequestFields.phone,
  rider_name: callRequestFields.text(100),
  order_id: callRequestFields.orderId,
  pickup: callRequestFields.optionalText(200),
  drop: callRequestFields.optionalText(200),
  language: callRequestFields.language,
  recall: callRequestFields.recall,
});

export type RiderDeliveryRequest = z.infer<typeof riderDeliveryRequest>;
