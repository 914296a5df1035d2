// The flow engine: pure functions from (flow, state, input) to (next state, what to say). It knows nothing
// of HTTP, XML or storage, so every transport (ExoML, applet, voicebot) runs the same conversation.
import type { EngineOptions, Flow, FlowState, Input, Language, Reply, Step, Transition } from './types.js';

export interface Advance {
  state: FlowState;
  reply: Reply;
}

export function start(flow: Flow, language: Language = 'hi-IN'): Advance {
  const state: FlowState = { step: flow.firstStep, turn: 1, noInput: 0, invalid: 0, values: {}, language, firstLanguage: language };
  return { state, reply: ask(flow, state, [flow.intro]) };
}

export function advance(flow: Flow, state: FlowState, input: Input, options: EngineOptions = {}): Advance {
  if (state.outcome) return { state, reply: { kind: 'end', outcome: state.outcome, say: [] } };
  const step = stepOf(flow, state.step);
  const turn = state.turn + 1;

  if (input.kind === 'no_input') {
    // `final`: the transport already repeated the question (Exotel's repeat_menu), so silence ends it.
    if (input.final || state.noInput >= step.retries.noInput) return follow(flow, { ...state, turn }, step.exhausted, [], options);
    const next = { ...state, turn, noInput: state.noInput + 1 };
    return { state: next, reply: ask(flow, next, [step.noInputPrompt]) };
  }

  const digits = input.digits;
  if (digits === '') {
    // A bare # (a press with no digits): the vendor is there, so it is not a silence, and it is no wrong key
    // either. The question is asked again with its silences counted afresh, never the end of the call (README).
    const next = { ...state, turn, noInput: 0 };
    return { state: next, reply: ask(flow, next, [step.noInputPrompt]) };
  }
  const transition = answer(step, digits);
  if (transition) {
    const values = step.kind === 'number' ? { ...state.values, [step.saveAs]: Number(digits) } : state.values;
    return follow(flow, { ...state, turn, values }, transition, [], options);
  }
  // Keys every menu understands, unless the menu uses them itself: a human agent, another language.
  if (step.kind === 'choice' && options.agentKey !== undefined && digits === options.agentKey) {
    return follow(flow, { ...state, turn }, { transfer: true, otherwise: { end: 'no_response', closing: flow.apology } }, [], options);
  }
  const switchTo = flow.languageChoice?.key === digits ? languageKeyTarget(flow, step, state) : undefined;
  if (switchTo) {
    // The question is heard anew in the other language: its silences and wrong keys count from nothing.
    const next = { ...state, turn, language: switchTo, noInput: 0, invalid: 0 };
    return { state: next, reply: ask(flow, next, []) };
  }
  if (state.invalid >= step.retries.invalid) {
    // Too many wrong keys: a human agent if there is one, else the step's own ending.
    const exhausted: Transition =
      options.agentKey !== undefined
        ? { transfer: true, otherwise: { end: 'no_response', closing: flow.apology } }
        : 'end' in step.exhausted
          ? { end: step.exhausted.end, closing: flow.noValidAnswer }
          : step.exhausted;
    return follow(flow, { ...state, turn }, exhausted, [step.invalidPrompt], options);
  }
  // A wrong key is still a vendor who is there: the question's silences count afresh, as a new Gather's
  // repeats do in applet mode.
  const next = { ...state, turn, noInput: 0, invalid: state.invalid + 1 };
  return { state: next, reply: ask(flow, next, [step.invalidPrompt]) };
}

/** The transition a valid answer takes, or undefined for a wrong one. */
function answer(step: Step, digits: string): Transition | undefined {
  if (step.kind === 'choice') return Object.hasOwn(step.choices, digits) ? step.choices[digits] : undefined;
  if (!/^\d{1,6}$/.test(digits)) return undefined;
  const value = Number(digits);
  return value >= step.min && value <= step.max ? step.then : undefined;
}

function follow(flow: Flow, state: FlowState, transition: Transition, say: string[], options: EngineOptions): Advance {
  if ('transfer' in transition) {
    if (options.agentKey === undefined) return follow(flow, state, transition.otherwise, say, options);
    const transferred: FlowState = { ...state, outcome: 'transferred' };
    return { state: transferred, reply: { kind: 'transfer', say: [...say, flow.agentConnecting] } };
  }
  if ('end' in transition) {
    const ended: FlowState = { ...state, outcome: transition.end };
    return { state: ended, reply: { kind: 'end', outcome: transition.end, say: [...say, transition.closing] } };
  }
  const next: FlowState = { ...state, step: transition.next, noInput: 0, invalid: 0 };
  return { state: next, reply: ask(flow, next, say) };
}

/**
 * Where the language key leads from this step: the other language, and from there back to the one the call
 * began in; undefined where the key does nothing (not a menu, or a menu that uses the key itself).
 */
function languageKeyTarget(flow: Flow, step: Step, state: FlowState): Language | undefined {
  if (!flow.languageChoice || step.kind !== 'choice' || Object.hasOwn(step.choices, flow.languageChoice.key)) return undefined;
  return state.firstLanguage && state.language !== state.firstLanguage ? state.firstLanguage : flow.languageChoice.to[state.language];
}

function ask(flow: Flow, state: FlowState, say: string[]): Reply {
  const step = stepOf(flow, state.step);
  const offerOf = languageKeyTarget(flow, step, state);
  return {
    kind: 'ask',
    step: state.step,
    turn: state.turn,
    say,
    // The menu names the language its key leads to: a Marathi call switched to English offers Marathi back.
    question: offerOf ? [step.question, flow.languageChoice!.offer[offerOf]] : [step.question],
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
