// What a Voicebot stream can say: only recorded prompts (the stream has no TTS). A passage is stitched from
// clips in the call's language, else in DEFAULT_LANGUAGE; a value no clip can say (an order id with letters)
// is left out. At boot, every prompt of every flow must be sayable in DEFAULT_LANGUAGE.
import type { ClipLibrary } from '../audio/clip-library.js';
import { recordingScript, type PromptContext } from '../flows/prompts.js';
import type { Flow, Language } from '../flows/types.js';
import type { Speaker } from './session.js';

export function streamSpeaker(clips: ClipLibrary, defaultLanguage: Language): Speaker {
  return (flow: Flow, language: Language, names: string[], context: PromptContext) => {
    const parts = recordingScript(flow, names);
    if (!parts) return undefined;
    return clips.stitch(language, parts, context, true) ?? clips.stitch(defaultLanguage, parts, context, true);
  };
}

/** What keeps these flows from being spoken over a stream: prompts with no recording script, missing clips. */
export function unsayable(clips: ClipLibrary, flows: Flow[], language: Language): string[] {
  const problems: string[] = [];
  for (const flow of flows) {
    const names = Object.keys(flow.prompts[language]);
    const unscripted = names.filter((name) => !recordingScript(flow, [name]));
    if (unscripted.length > 0) problems.push(`flow ${flow.name} has no recording script for ${unscripted.join(', ')}`);
    const missing = clips.missing(language, recordingScript(flow, names.filter((name) => !unscripted.includes(name))) ?? []);
    if (missing.length > 0) problems.push(`${language}/${missing.map((m) => `${m}.wav`).join(', ')} missing`);
  }
  return [...new Set(problems)];
}
