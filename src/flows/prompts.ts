// Turns prompt names into the words a transport speaks. `{name}` is filled from the call's context and
// values; `{name|money}` and `{name|number}` are numbers written the way a listener of that language
// expects them (Indian digit grouping; Devanagari digits for Marathi), so TTS reads them naturally.
// `[…]` is said only when every `{name}` inside it has a value: "Items: ." is not said for an order without items.
import type { AudioPart } from '../audio/clip-library.js';
import type { Flow, Language, Reply } from './types.js';

export type PromptContext = Record<string, string | number | undefined>;

// The locale whose number format each language's listeners expect.
const NUMBER_LOCALE: Record<Language, string> = { 'hi-IN': 'en-IN', 'hi-Latn': 'en-IN', 'en-IN': 'en-IN', 'mr-IN': 'mr-IN' };
const formats = new Map<Language, Intl.NumberFormat>();

export function formatNumber(value: number, language: Language): string {
  let format = formats.get(language);
  if (!format) formats.set(language, (format = new Intl.NumberFormat(NUMBER_LOCALE[language], { maximumFractionDigits: 2 })));
  return format.format(value);
}

export function promptText(flow: Flow, language: Language, name: string, context: PromptContext): string {
  const template = (flow.prompts[language] as Record<string, string>)[name];
  if (template === undefined) throw new Error(`flow ${flow.name} has no ${language} prompt ${name}`);
  const fill = (text: string) =>
    text.replace(/\{(\w+)(?:\|(money|number))?\}/g, (_, key: string, format?: string) => {
      const value = context[key];
      if (format && value !== undefined && value !== '' && Number.isFinite(Number(value))) return formatNumber(Number(value), language);
      return String(value ?? '');
    });
  const given = (key: string) => context[key] !== undefined && String(context[key]).trim() !== '';
  return fill(template.replace(/\[([^\]]*)\]/g, (_, part: string) => ([...part.matchAll(/\{(\w+)/g)].every((m) => given(m[1]!)) ? part : '')));
}

/** The clips (and values) a passage of these prompts is recorded as; undefined when one has no recording script. */
export function recordingScript(flow: Flow, names: string[]): AudioPart[] | undefined {
  const parts = names.map((name) => (flow.audio as Record<string, AudioPart[] | undefined> | undefined)?.[name]);
  return parts.some((p) => p === undefined) ? undefined : (parts.flat() as AudioPart[]);
}

/** Makes one recorded passage of these prompts, as a URL to play; undefined when any part has no recording. */
export type AudioRenderer = (flow: Flow, language: Language, names: string[], context: PromptContext) => string | undefined;

/** A passage to speak: recorded audio when every prompt in it has a recording, else TTS text. */
export type Speech = { audio: string } | { text: string };

export function speech(flow: Flow, language: Language, names: string[], context: PromptContext, audio?: AudioRenderer): Speech {
  const url = audio?.(flow, language, names, context);
  return url ? { audio: url } : { text: promptsText(flow, language, names, context) };
}

/** The prompts one reply speaks, in order: what it says, then its question. */
export const replyPrompts = (reply: Reply): string[] => (reply.kind === 'ask' ? [...reply.say, ...reply.question] : reply.say);

/** The words of one reply as a listener heard them (for ops' timelines). */
export function replyText(flow: Flow, language: Language, reply: Reply, context: PromptContext): string {
  return promptsText(flow, language, replyPrompts(reply), context);
}

/** Several prompts spoken as one passage. */
export function promptsText(flow: Flow, language: Language, names: string[], context: PromptContext): string {
  return names.map((name) => promptText(flow, language, name, context)).join(' ');
}
