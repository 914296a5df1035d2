import type { AudioPart } from '../audio/clip-library.js';

// A flow is data: steps, what each asks, what input it takes and where each answer leads. The engine
// (engine.ts) walks it; transports (src/transports) turn what it decides into ExoML, applet JSON or audio.

/** hi-IN in Devanagari; hi-Latn is romanised Hindi, which Exotel's TTS was seen to read better (reference §13). */
export const LANGUAGES = ['hi-IN', 'hi-Latn', 'en-IN', 'mr-IN'] as const;
export type Language = (typeof LANGUAGES)[number];

// withdrawn: the backend withdrew the call while it waited to be dialled (calls/withdraw.ts); no flow ends with it.
export const FINAL_OUTCOMES = ['accepted', 'cancelled', 'picked_up', 'delayed', 'problem', 'transferred', 'no_response', 'not_reached', 'withdrawn'] as const;
export type FinalOutcome = (typeof FINAL_OUTCOMES)[number];
export type Outcome = 'pending' | FinalOutcome;

export interface InputSpec {
  /** The most keys one answer may have. */
  maxDigits: number;
  /** '#' ends a multi-digit answer; '' when a single key is the whole answer. */
  finishOnKey: '#' | '';
  /** Seconds of silence before the answer counts as no input (at most 6 for Exotel's Gather applet, reference §5.2). */
  timeoutSeconds: number;
}

/**
 * Where an answer leads: another step; the end of the call with an outcome and closing words; or a human
 * agent (when one is configured, else `otherwise`).
 */
export type Transition<P extends string = string> =
  | { next: string }
  | { end: FinalOutcome; closing: P }
  | { transfer: true; otherwise: { end: FinalOutcome; closing: P } };

interface StepBase<P extends string> {
  /** The name a transport may show for this step (ExoML mode uses it as the route: /exoml/<slug>). */
  slug: string;
  question: P;
  input: InputSpec;
  /** How many more times the question is asked after silence, and after a wrong answer. */
  retries: { noInput: number; invalid: number };
  noInputPrompt: P;
  invalidPrompt: P;
  /** Where the call goes when the re-asks after silence are used up (and after wrong keys, without an agent). */
  exhausted: Transition<P>;
}

/** A menu: each key leads somewhere. */
export interface ChoiceStep<P extends string = string> extends StepBase<P> {
  kind: 'choice';
  choices: Record<string, Transition<P>>;
}

/** A number in a range, kept in the call's values under `saveAs`. */
export interface NumberStep<P extends string = string> extends StepBase<P> {
  kind: 'number';
  min: number;
  max: number;
  saveAs: string;
  then: Transition<P>;
}

export type Step<P extends string = string> = ChoiceStep<P> | NumberStep<P>;

export interface Flow<P extends string = string> {
  name: string;
  /** The name of the call's first request in transports that name steps in URLs (/exoml/<startSlug>). */
  startSlug: string;
  /** Said once before the first question. */
  intro: P;
  firstStep: string;
  steps: Record<string, Step<P>>;
  /** Prompt templates per language; `{name}` is filled from the call's context and values (prompts.ts). */
  prompts: Record<Language, Record<P, string>>;
  /** Said when something inside our server broke and the call must end politely. */
  apology: P;
  /**
   * The closing said when the wrong answers to a question are used up (the call ends as the step's
   * `exhausted` does): "we did not get an answer" would be wrong to a vendor who pressed keys.
   */
  noValidAnswer: P;
  /** Said before the call is handed to a human agent. */
  agentConnecting: P;
  /**
   * Recorded prompts: the clips (and digits of values) each prompt is made of, the same in every language
   * (the clips themselves are per language, src/audio/clip-library.ts). A prompt without one is spoken by TTS.
   */
  audio?: Partial<Record<P, AudioPart[]>>;
  /**
   * Pressing `key` at a menu switches the rest of the call to the language `to` names for the current one
   * (from there, back to the one the call began in). Each menu ends with the `offer` of the language the
   * key leads to, said in the current one.
   */
  languageChoice?: { key: string; to: Record<Language, Language>; offer: Record<Language, P> };
}

/** Where a call stands in its flow; stored as JSON on the call row. */
export interface FlowState {
  step: string;
  /** Counts the answers consumed; Exotel's URLs carry it so a repeated request is not applied twice. */
  turn: number;
  noInput: number;
  invalid: number;
  values: Record<string, number>;
  /** The language the rest of the call is spoken in (the in-call choice may change it). */
  language: Language;
  /** The language the call began in: a second press of the language key goes back to it. */
  firstLanguage?: Language;
  outcome?: FinalOutcome;
}

export type Input = { kind: 'digits'; digits: string } | { kind: 'no_input'; final?: boolean };

/** What the engine may do beyond the flow itself: here, whether a human agent can take the call. */
export interface EngineOptions {
  /** The key that asks for an agent (AGENT_KEY), when AGENT_NUMBER is set; undefined: no agent. */
  agentKey?: string | undefined;
}

/** What to say next, as prompt names (a transport renders text or audio from them). */
export type Reply =
  /** `question`: the prompts that ask it (the step's question, then at a menu the language key's offer). */
  | { kind: 'ask'; step: string; turn: number; say: string[]; question: string[]; input: InputSpec; reasks: number; reaskPrompt: string }
  | { kind: 'end'; outcome: FinalOutcome; say: string[] }
  | { kind: 'transfer'; say: string[] };
