// What a Voicebot stream can say: only recorded prompts (the stream has no TTS). A passage is stitched from
// clips in the call's language, else in DEFAULT_LANGUAGE; a value no clip can say (an order id with letters)
// is left out. At boot, every prompt of every flow must be sayable in DEFAULT_LANGUAGE.
import type { AudioPart, ClipLibrary } from '../audio/clip-library.js';
import type { PromptContext } from '../flows/prompts.js';
import type { Flow, Language } from '../flows/types.js';
import type { Speaker } from './session.js';

function partsOf(flow: Flow, names: string[]): AudioPart[] | undefined {
  const parts = names.map((name) => (flow.audio as Record<string, AudioPart[] | undefined> | undefined)?.[name]);
  return parts.some((p) => p === undefined) ? undefined : (parts.flat() as AudioPart[]);
}

export function streamSpeaker(clips: ClipLibrary, defaultLanguage: Language): Speaker {
  return (flow: Flow, language: Language, names: string[], context: PromptContext) => {
    const parts = partsOf(flow, names);
    if (!parts) return undefined;
    return clips.stitch(language, parts, context, true) ?? clips.stitch(defaultLanguage, parts, context, true);
  };
}

/** What keeps these flows from being spoken over a stream: prompts with no recording script, missing clips. */
export function unsayable(clips: ClipLibrary, flows: Flow[], language: Language): string[] {
  const problems: string[] = [];
  for (const flow of flows) {
    const names = Object.keys(flow.prompts[language]);
    const unscripted = names.filter((name) => !partsOf(flow, [name]));
    if (unscripted.length > 0) problems.push(`flow ${flow.name} has no recording script for ${unscripted.join(', ')}`);
    const missing = clips.missing(language, partsOf(flow, names.filter((name) => !unscripted.includes(name))) ?? []);
    if (missing.length > 0) problems.push(`${language}/${missing.map((m) => `${m}.wav`).join(', ')} missing`);
  }
  return [...new Set(problems)];
}
