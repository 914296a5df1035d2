// The flow engine: pure functions from (flow, state, input) to (next state, what to say). It knows nothing
// of HTTP, XML or storage, so every transport (ExoML, applet, voicebot) runs the same conversation.
import type { Flow, FlowState, Input, Reply, Step, Transition } from './types.js';

export interface Advance {
  state: FlowState;
  reply: Reply;
}

export function start(flow: Flow): Advance {
  const state: FlowState = { step: flow.firstStep, turn: 1, noInput: 0, invalid: 0, values: {} };
  return { state, reply: ask(flow, state, [flow.intro]) };
}

export function advance(flow: Flow, state: FlowState, input: Input): Advance {
  if (state.outcome) return { state, reply: { kind: 'end', outcome: state.outcome, say: [] } };
  const step = stepOf(flow, state.step);
  const turn = state.turn + 1;

  if (input.kind === 'no_input') {
    // `final`: the transport already repeated the question (Exotel's repeat_menu), so silence ends it.
    if (input.final || state.noInput >= step.retries.noInput) return follow(flow, { ...state, turn }, step.exhausted, []);
    const next = { ...state, turn, noInput: state.noInput + 1 };
    return { state: next, reply: ask(flow, next, [step.noInputPrompt]) };
  }

  const digits = input.digits;
  if (digits === '') return advance(flow, state, { kind: 'no_input' });
  const transition = answer(step, digits);
  if (transition) {
    const values = step.kind === 'number' ? { ...state.values, [step.saveAs]: Number(digits) } : state.values;
    return follow(flow, { ...state, turn, values }, transition, []);
  }
  if (state.invalid >= step.retries.invalid) return follow(flow, { ...state, turn }, step.exhausted, [step.invalidPrompt]);
  const next = { ...state, turn, invalid: state.invalid + 1 };
  return { state: next, reply: ask(flow, next, [step.invalidPrompt]) };
}

/** The transition a valid answer takes, or undefined for a wrong one. */
function answer(step: Step, digits: string): Transition | undefined {
  if (step.kind === 'choice') return Object.hasOwn(step.choices, digits) ? step.choices[digits] : undefined;
  if (!/^\d{1,6}$/.test(digits)) return undefined;
  const value = Number(digits);
  return value >= step.min && value <= step.max ? step.then : undefined;
}

function follow(flow: Flow, state: FlowState, transition: Transition, say: string[]): Advance {
  if ('end' in transition) {
    const ended: FlowState = { ...state, outcome: transition.end };
    return { state: ended, reply: { kind: 'end', outcome: transition.end, say: [...say, transition.closing] } };
  }
  const next: FlowState = { ...state, step: transition.next, noInput: 0, invalid: 0 };
  return { state: next, reply: ask(flow, next, say) };
}

function ask(flow: Flow, state: FlowState, say: string[]): Reply {
  const step = stepOf(flow, state.step);
  return {
    kind: 'ask',
    step: state.step,
    turn: state.turn,
    say,
    question: step.question,
    input: step.input,
    reasks: step.retries.noInput,
    reaskPrompt: step.noInputPrompt,
  };
}

export function stepOf(flow: Flow, id: string): Step {
  const step = flow.steps[id];
  if (!step) throw new Error(`flow ${flow.name} has no step ${id}`);
  return step;
}

/** The step whose slug is given, for transports that name steps in URLs. */
export function stepBySlug(flow: Flow, slug: string): string | undefined {
  return Object.keys(flow.steps).find((id) => flow.steps[id]!.slug === slug);
}
