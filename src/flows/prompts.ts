// Turns prompt names into the words a transport speaks, filling `{name}` from the call's context and values.
import type { Flow, Language } from './types.js';

export type PromptContext = Record<string, string | number | undefined>;

export function promptText(flow: Flow, language: Language, name: string, context: PromptContext): string {
  const template = (flow.prompts[language] as Record<string, string>)[name];
  if (template === undefined) throw new Error(`flow ${flow.name} has no ${language} prompt ${name}`);
  return template.replace(/\{(\w+)\}/g, (_, key: string) => String(context[key] ?? ''));
}

/** Several prompts spoken as one passage. */
export function promptsText(flow: Flow, language: Language, names: string[], context: PromptContext): string {
  return names.map((name) => promptText(flow, language, name, context)).join(' ');
}
