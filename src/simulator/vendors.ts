// The simulator's test phone numbers, like a payment sandbox's test cards: the number dialled decides how
// the simulated vendor behaves. All are obviously fake (9000 NNNN 0K); any other number accepts at once.
import { normalisePhone } from '../phone.js';

/** One entry per prompt that takes keys: the keys pressed, or null to stay silent. */
export type Presses = Array<string | null>;

export type VendorBehaviour =
  | {
      answers: true;
      presses: Presses;
      description: string;
      /** Presses the first keys while the greeting plays. */
      bargeIn?: boolean;
      /** Hangs up as they press the last keys: Exotel's final status goes out before the keys' request. */
      hangsUpWithLastKey?: boolean;
    }
  | { answers: false; status: 'busy' | 'no-answer' | 'failed'; description: string };

export const TEST_VENDORS: Record<string, VendorBehaviour> = {
  '+919000000001': { answers: true, presses: ['1'], description: 'accepts (presses 1)' },
  '+919000000002': { answers: true, presses: ['2'], description: 'cancels (presses 2)' },
  '+919000000003': { answers: true, presses: ['3', '20'], description: 'sets preparation time 20 (3, then 2 0 #)' },
  '+919000000004': { answers: true, presses: ['7', '1'], description: 'presses an invalid key (7), then accepts' },
  '+919000000005': { answers: true, presses: ['3', '999', '25'], description: 'out-of-range minutes (999), then 25' },
  '+919000000006': { answers: true, presses: [], description: 'answers and presses nothing' },
  '+919000000007': { answers: false, status: 'busy', description: 'is busy' },
  '+919000000008': { answers: false, status: 'no-answer', description: 'does not answer' },
  '+919000000009': { answers: false, status: 'failed', description: 'cannot be reached (failed)' },
  '+919000000010': { answers: true, presses: ['0'], description: 'asks for a human agent (presses 0)' },
  '+919000000011': { answers: true, presses: ['2', '15'], description: 'rider: delayed, 15 minutes (2, then 1 5 #)' },
  '+919000000012': { answers: true, presses: ['3'], description: 'rider: reports a problem (3)' },
  '+919000000013': { answers: true, presses: ['9', '1'], description: 'switches the language (9), then presses 1' },
  '+919000000014': { answers: true, presses: ['7', '7', '7'], description: 'presses a wrong key three times' },
  '+919000000015': { answers: true, presses: ['1'], bargeIn: true, description: 'accepts (presses 1) while the greeting still plays' },
  '+919000000016': { answers: true, presses: [null, null, '#', '1'], description: 'silent twice (all a menu allows), presses only # (the finish key), then accepts' },
  '+919000000017': { answers: true, presses: [null, null, '9', null, '1'], description: 'silent twice, switches the language (9), silent once more, then accepts' },
  '+919000000018': { answers: true, presses: [null, null, '7', null, '1'], description: 'silent twice, a wrong key (7), silent once more, then accepts' },
  '+919000000019': { answers: true, presses: ['1'], hangsUpWithLastKey: true, description: 'presses 1 and hangs up at once: the final status arrives before the key' },
};

/** Simulated human agents, for AGENT_NUMBER: whether they pick up a transferred call. */
export const TEST_AGENTS: Record<string, 'completed' | 'no-answer'> = {
  '+919000000020': 'completed',
  '+919000000021': 'no-answer',
};

/** How a simulated agent's leg ends (any number not listed answers). */
export function agentLegStatus(dialled: string): 'completed' | 'no-answer' {
  return TEST_AGENTS[normalisePhone(dialled) ?? ''] ?? 'completed';
}

const DEFAULT_BEHAVIOUR: VendorBehaviour = { answers: true, presses: ['1'], description: 'accepts (any other number)' };

/** 9000 NNNN 0K behaves as 9000 0000 0K: the N digits are free, so many simulated vendors can act alike. */
export function vendorBehaviour(dialled: string): VendorBehaviour {
  const e164 = normalisePhone(dialled);
  if (e164 && TEST_VENDORS[e164]) return TEST_VENDORS[e164];
  const alike = e164 && /^\+919000\d{4}0(\d)$/.exec(e164);
  return (alike && TEST_VENDORS[`+91900000000${alike[1]}`]) || DEFAULT_BEHAVIOUR;
}
