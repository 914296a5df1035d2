// A flow is data: steps, what each asks, what input it takes and where each answer leads. The engine
// (engine.ts) walks it; transports (src/transports) turn what it decides into ExoML, applet JSON or audio.

export const LANGUAGES = ['hi-IN'] as const;
export type Language = (typeof LANGUAGES)[number];

export type FinalOutcome = 'accepted' | 'cancelled' | 'no_response' | 'not_reached';
export type Outcome = 'pending' | FinalOutcome;

export interface InputSpec {
  /** The most keys one answer may have. */
  maxDigits: number;
  /** '#' ends a multi-digit answer; '' when a single key is the whole answer. */
  finishOnKey: '#' | '';
  /** Seconds of silence before the answer counts as no input (at most 6 for Exotel's Gather applet, reference §5.2). */
  timeoutSeconds: number;
}

/** Where an answer leads: another step, or the end of the call with an outcome and closing words. */
export type Transition<P extends string = string> =
  | { next: string }
  | { end: FinalOutcome; closing: P };

interface StepBase<P extends string> {
  /** The name a transport may show for this step (ExoML mode uses it as the route: /exoml/<slug>). */
  slug: string;
  question: P;
  input: InputSpec;
  /** How many more times the question is asked after silence, and after a wrong answer. */
  retries: { noInput: number; invalid: number };
  noInputPrompt: P;
  invalidPrompt: P;
  /** Where the call goes when the re-asks are used up. */
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
  /** Prompt templates per language; `{name}` is filled from the call's context and values. */
  prompts: Record<Language, Record<P, string>>;
  /** Said when something inside our server broke and the call must end politely. */
  apology: P;
}

/** Where a call stands in its flow; stored as JSON on the call row. */
export interface FlowState {
  step: string;
  /** Counts the answers consumed; Exotel's URLs carry it so a repeated request is not applied twice. */
  turn: number;
  noInput: number;
  invalid: number;
  values: Record<string, number>;
  outcome?: FinalOutcome;
}

export type Input = { kind: 'digits'; digits: string } | { kind: 'no_input'; final?: boolean };

/** What to say next, as prompt names (a transport renders text or audio from them). */
export type Reply =
  | { kind: 'ask'; step: string; turn: number; say: string[]; question: string; input: InputSpec; reasks: number; reaskPrompt: string }
  | { kind: 'end'; outcome: FinalOutcome; say: string[] };
