// What the backend may send when it withdraws a call: why, for the call's timeline (JSON, a form, or nothing).
import { z } from 'zod';
import { callRequestFields } from './vendor-order-request.js';

export const withdrawRequest = z.object({
  reason: callRequestFields.optionalText(200),
});
