// Every flow the server can run. A new conversation is a flow file plus one line here; no route changes.
import type { Flow } from './types.js';
import { riderDelivery } from './rider-delivery.js';
import { vendorOrder } from './vendor-order.js';

export const FLOWS: Record<string, Flow> = {
  [vendorOrder.name]: vendorOrder,
  [riderDelivery.name]: riderDelivery,
};

export function flowNamed(name: string): Flow | undefined {
  return Object.hasOwn(FLOWS, name) ? FLOWS[name] : undefined;
}

/** The flow whose first request or one of whose steps has this slug, for transports that route by slug. */
export function flowBySlug(slug: string): Flow | undefined {
  return Object.values(FLOWS).find((flow) => flow.startSlug === slug || Object.values(flow.steps).some((s) => s.slug === slug));
}
