// Recorded prompts. Clips live in PROMPTS_DIR/<language>/<clip>.wav (words and phrases, and the digits
// 0-9). A prompt with dynamic parts (an order id, an amount, minutes) is stitched from clips into one WAV.
// Every WAV we hand Exotel has a content-addressed URL (/audio/<sha256>.wav): Exotel caches audio by URL
// (reference §5.5), so new audio always gets a new URL, and the same audio the same one. A stitched file is
// kept on disk while calls may still fetch it, and removed once nothing has used it for STITCHED_KEEP_MS.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Language } from '../flows/types.js';
import { readPcm, writeWav } from './wav.js';

/** A part of a recorded prompt: a clip, or a value from the call spoken digit by digit. */
export type AudioPart = { clip: string } | { digits: string };

const MAX_CACHED = 2_000;
// Stitched files kept in memory, by size: every order makes a new greeting, and each is on disk anyway.
const MAX_CACHED_BYTES = 32 * 1024 * 1024;
/** How long a stitched file stays after its last use: far longer than any call that plays it (TimeLimit). */
export const STITCHED_KEEP_MS = 2 * 86_400_000;
// A file's time is set when it is used, at most this often (a render is on a request's path).
const MARK_USED_EVERY_MS = 3_600_000;
// Ours, and only ours, in the cache directory: <sha256>.wav, and what a crash mid-write left (<...>.wav.<pid>.tmp).
const STITCHED_FILE = /^([0-9a-f]{64})\.wav(?:\.\d+\.tmp)?$/;

export class ClipLibrary {
  private readonly clips = new Map<string, Buffer | null>();
  /** Stitched files by hash: bounded, oldest dropped first (they can always be stitched again). */
  private readonly files = new Map<string, Buffer>();
  private cachedBytes = 0;
  /** When each stitched file was last marked used on disk (bounded like `files`). */
  private readonly used = new Map<string, number>();

  /**
   * `dir`: the clips (unset: no recorded prompts). `cacheDir`: where stitched files are kept, so a URL handed
   * to Exotel still plays after a restart.
   */
  constructor(
    private readonly dir: string | undefined,
    private readonly cacheDir: string | undefined,
    private readonly now: () => Date = () => new Date(),
  ) {}

  get enabled(): boolean {
    return this.dir !== undefined;
  }

  /** The WAV for these parts, and its hash; undefined when a clip (or a value) is missing: speak text instead. */
  render(language: Language, parts: AudioPart[], context: Record<string, string | number | undefined>): { hash: string; wav: Buffer } | undefined {
    const pcm = this.stitch(language, parts, context);
    if (!pcm) return undefined;
    const wav = writeWav(pcm);
    const hash = createHash('sha256').update(wav).digest('hex');
    if (!this.files.has(hash)) {
      this.files.set(hash, wav);
      this.cachedBytes += wav.length;
      for (const [oldest, file] of this.files) {
        if (this.cachedBytes <= MAX_CACHED_BYTES || oldest === hash) break;
        this.files.delete(oldest);
        this.cachedBytes -= file.length;
      }
    }
    this.keepOnDisk(hash, wav);
    return { hash, wav };
  }

  /**
   * The samples of these parts, one after another; undefined when a clip is missing. A value that cannot be
   * read digit by digit makes the whole passage undefined, or with `skipUnreadable` is left out (a stream
   * has no TTS to fall back on).
   */
  stitch(language: Language, parts: AudioPart[], context: Record<string, string | number | undefined>, skipUnreadable = false): Buffer | undefined {
    if (!this.dir || parts.length === 0) return undefined;
    const pcm: Buffer[] = [];
    for (const part of parts) {
      // Only whole numbers are read digit by digit: "250.5" or "ORD-12A" would be read wrong.
      const value = 'clip' in part ? '' : String(context[part.digits] ?? '');
      if (!('clip' in part) && !/^\d{1,12}$/.test(value)) {
        if (skipUnreadable) continue;
        return undefined;
      }
      const names = 'clip' in part ? [part.clip] : [...value];
      for (const name of names) {
        const clip = this.clip(language, name);
        if (!clip) return undefined;
        pcm.push(clip);
      }
    }
    return Buffer.concat(pcm);
  }

  /** The clips these parts need that are missing in this language (digits count as the clips 0-9). */
  missing(language: Language, parts: AudioPart[]): string[] {
    const names = parts.flatMap((part) => ('clip' in part ? [part.clip] : [...'0123456789']));
    return [...new Set(names)].filter((name) => !this.clip(language, name));
  }

  /**
   * Removes the stitched files no call has used for STITCHED_KEEP_MS, and what a crash left half-written.
   * Without it, a file per order amount and id would fill the disk. Resolves with how many were removed.
   */
  async prune(): Promise<number> {
    if (!this.cacheDir) return 0;
    const cutoff = this.now().getTime() - STITCHED_KEEP_MS;
    let names: string[];
    try {
      names = await readdir(this.cacheDir);
    } catch {
      return 0; // nothing stitched yet
    }
    let removed = 0;
    for (const name of names) {
      const hash = STITCHED_FILE.exec(name)?.[1];
      if (!hash) continue;
      const path = join(this.cacheDir, name);
      try {
        if ((await stat(path)).mtimeMs >= cutoff) continue;
        // Checked and removed in one go: a render in between would have marked it used.
        if ((this.used.get(hash) ?? 0) >= cutoff) continue;
        unlinkSync(path);
        this.used.delete(hash);
        removed++;
      } catch {
        // gone already
      }
    }
    return removed;
  }

  /** A stitched or single-clip WAV served at /audio/<hash>.wav. */
  file(hash: string): Buffer | undefined {
    if (!/^[0-9a-f]{64}$/.test(hash)) return undefined;
    const cached = this.files.get(hash);
    if (cached || !this.cacheDir) return cached;
    const path = join(this.cacheDir, `${hash}.wav`);
    return existsSync(path) ? readFileSync(path) : undefined;
  }

  /** On disk, so its URL still plays after a restart, and marked used, so prune() keeps it. */
  private keepOnDisk(hash: string, wav: Buffer): void {
    if (!this.cacheDir) return;
    const now = this.now();
    if (now.getTime() - (this.used.get(hash) ?? -Infinity) < MARK_USED_EVERY_MS) return;
    // Set first: on a full disk, this is retried (and warned about) once an hour, not on every render.
    if (this.used.size >= MAX_CACHED) this.used.delete(this.used.keys().next().value!);
    this.used.delete(hash);
    this.used.set(hash, now.getTime());
    const path = join(this.cacheDir, `${hash}.wav`);
    try {
      if (!existsSync(path)) {
        mkdirSync(this.cacheDir, { recursive: true });
        // Written whole or not at all: a crash never leaves a truncated file behind this URL.
        const temporary = `${path}.${process.pid}.tmp`;
        writeFileSync(temporary, wav);
        renameSync(temporary, path);
      }
      utimesSync(path, now, now);
    } catch (error) {
      // A full disk must not silence the call: the file is still served from memory.
      process.emitWarning(`recorded prompt cache not written: ${(error as Error).message}`);
    }
  }

  private clip(language: Language, name: string): Buffer | undefined {
    if (!/^[\w-]{1,64}$/.test(name)) return undefined;
    const key = `${language}/${name}`;
    if (!this.clips.has(key)) {
      const path = join(this.dir!, language, `${name}.wav`);
      let pcm: Buffer | null = null;
      try {
        pcm = existsSync(path) ? readPcm(readFileSync(path), key) : null;
      } catch (error) {
        // A clip in the wrong format is left out (the prompt is spoken by TTS), and said once on stderr.
        process.emitWarning(`recorded prompt ${key} not used: ${(error as Error).message}`);
      }
      this.clips.set(key, pcm);
    }
    return this.clips.get(key) ?? undefined;
  }
}
