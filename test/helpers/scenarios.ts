// What the backend must read back after each simulated vendor's call, whatever the transport.
export interface Expected {
  phone: string;
  status: string;
  outcome: string;
  prep_time_minutes: number | null;
  digits: Array<{ step: string; digits: string }>;
}

export const SCENARIOS: Expected[] = [
  { phone: '9000000001', status: 'completed', outcome: 'accepted', prep_time_minutes: null, digits: [{ step: 'menu', digits: '1' }] },
  { phone: '9000000002', status: 'completed', outcome: 'cancelled', prep_time_minutes: null, digits: [{ step: 'menu', digits: '2' }] },
  { phone: '9000000003', status: 'completed', outcome: 'accepted', prep_time_minutes: 20, digits: [{ step: 'menu', digits: '3' }, { step: 'prep_time', digits: '20' }] },
  { phone: '9000000004', status: 'completed', outcome: 'accepted', prep_time_minutes: null, digits: [{ step: 'menu', digits: '7' }, { step: 'menu', digits: '1' }] },
  {
    phone: '9000000005',
    status: 'completed',
    outcome: 'accepted',
    prep_time_minutes: 25,
    digits: [{ step: 'menu', digits: '3' }, { step: 'prep_time', digits: '999' }, { step: 'prep_time', digits: '25' }],
  },
  { phone: '9000000006', status: 'completed', outcome: 'no_response', prep_time_minutes: null, digits: [] },
  { phone: '9000000015', status: 'completed', outcome: 'accepted', prep_time_minutes: null, digits: [{ step: 'menu', digits: '1' }] },
  // A bare # is a press with no digits: asked again, in every transport, never the end of the call, even
  // after the silences a menu allows.
  { phone: '9000000016', status: 'completed', outcome: 'accepted', prep_time_minutes: null, digits: [{ step: 'menu', digits: '1' }] },
  // After the language switch the question is new: its silences count from nothing again.
  { phone: '9000000017', status: 'completed', outcome: 'accepted', prep_time_minutes: null, digits: [{ step: 'menu', digits: '9' }, { step: 'menu', digits: '1' }] },
  // A wrong key is a vendor who is there: the silences before it no longer count.
  { phone: '9000000018', status: 'completed', outcome: 'accepted', prep_time_minutes: null, digits: [{ step: 'menu', digits: '7' }, { step: 'menu', digits: '1' }] },
  // Hangs up as they press 1: Exotel's final status comes before the key, which still counts.
  { phone: '9000000019', status: 'completed', outcome: 'accepted', prep_time_minutes: null, digits: [{ step: 'menu', digits: '1' }] },
  { phone: '9000000007', status: 'busy', outcome: 'not_reached', prep_time_minutes: null, digits: [] },
  { phone: '9000000008', status: 'no-answer', outcome: 'not_reached', prep_time_minutes: null, digits: [] },
  { phone: '9000000009', status: 'failed', outcome: 'not_reached', prep_time_minutes: null, digits: [] },
];

/** The part of a read-back that must not depend on the transport. */
export function backendView(call: { status: string; outcome: string; prep_time_minutes: number | null; digits: Array<{ step: string; digits: string }> }) {
  return {
    status: call.status,
    outcome: call.outcome,
    prep_time_minutes: call.prep_time_minutes,
    digits: call.digits.map(({ step, digits }) => ({ step, digits })),
  };
}
