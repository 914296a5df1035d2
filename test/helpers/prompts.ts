// Synthetic recorded prompts for tests: a tone per clip, each of a length of its own, so the length of a
// stitched passage proves what is in it. Every clip every flow names, and the digits 0-9.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SAMPLE_RATE, writeWav } from '../../src/audio/wav.js';
import { FLOWS } from '../../src/flows/registry.js';
import type { Flow, Language } from '../../src/flows/types.js';

export const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** The clips a flow's recording scripts name. */
export const clipsOf = (flow: Flow): string[] => [...new Set(Object.values(flow.audio ?? {}).flat().flatMap((p) => (p && 'clip' in p ? [p.clip] : [])))];

/** Samples in the test clip of this name: 400 to 1,199, from the name. */
export const samplesOf = (name: string) => 400 + (([...name].reduce((a, c) => a + c.charCodeAt(0), 0) * 7) % 800);

export function tone(samples: number, hz: number): Buffer {
  const pcm = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) pcm.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / SAMPLE_RATE)), i * 2);
  return writeWav(pcm);
}

/** A PROMPTS_DIR holding every clip of every flow in these languages; `remove` deletes it. */
export function testPrompts(languages: Language[] = ['hi-IN']): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'exotel-caller-prompts-'));
  const names = [...new Set([...Object.values(FLOWS).flatMap(clipsOf), ...DIGITS])];
  languages.forEach((language, index) => {
    mkdirSync(join(dir, language));
    for (const name of names) writeFileSync(join(dir, language, `${name}.wav`), tone(samplesOf(name), 440 + index * 220));
  });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
