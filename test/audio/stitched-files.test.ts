// Stitched prompts on disk: kept while calls may still fetch them (so a URL handed to Exotel plays after a
// restart), and removed once no call has used them for STITCHED_KEEP_MS, so a file per order does not fill
// the disk. Only our own files are ever removed.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClipLibrary, STITCHED_KEEP_MS, type AudioPart } from '../../src/audio/clip-library.js';
import { readExoml } from '../../src/simulator/exoml-reader.js';
import { order, startHarness, type Harness } from '../helpers/harness.js';
import { DIGITS, samplesOf, testPrompts, tone } from '../helpers/prompts.js';

const DAY = 86_400_000;
let prompts: ReturnType<typeof testPrompts>;
beforeAll(() => {
  prompts = testPrompts();
});
afterAll(() => prompts.remove());

describe('the stitched files of a clip library', () => {
  let cache: string;
  let t: number;
  const now = () => new Date(t);
  // "amount 5 5 0 rupees": a file per amount, as in service.
  const amount: AudioPart[] = [{ clip: 'amount' }, { digits: 'order_amount' }, { clip: 'rupees' }];
  afterEach(() => rmSync(cache, { recursive: true, force: true }));

  it('keeps what was used lately, removes what was not, and never touches a file that is not ours', async () => {
    cache = mkdtempSync(join(tmpdir(), 'exotel-caller-stitched-'));
    t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const library = new ClipLibrary(prompts.dir, cache, now);
    const a = library.render('hi-IN', amount, { order_amount: 550 })!;
    const b = library.render('hi-IN', amount, { order_amount: 720 })!;
    const file = (hash: string) => join(cache, `${hash}.wav`);
    expect(statSync(file(a.hash)).mtimeMs).toBe(t);
    // Someone else's file, and what a crash mid-write left, both old.
    writeFileSync(join(cache, 'notes.txt'), 'not ours');
    writeFileSync(`${file(b.hash)}.4242.tmp`, 'half');
    const old = new Date(t - 30 * DAY);
    utimesSync(join(cache, 'notes.txt'), old, old);
    utimesSync(`${file(b.hash)}.4242.tmp`, old, old);

    // A day and a half later a call uses the first again; a day after that, the second is unused for 2.5 days.
    t += 1.5 * DAY;
    expect(library.render('hi-IN', amount, { order_amount: 550 })!.hash).toBe(a.hash);
    expect(statSync(file(a.hash)).mtimeMs).toBe(t);
    t += DAY;
    expect(await library.prune()).toBe(2);
    expect(existsSync(file(a.hash))).toBe(true);
    expect(existsSync(file(b.hash))).toBe(false);
    expect(existsSync(`${file(b.hash)}.4242.tmp`)).toBe(false);
    expect(existsSync(join(cache, 'notes.txt'))).toBe(true);

    // After a restart the kept one still plays; the removed one is stitched again when a call needs it.
    const restarted = new ClipLibrary(prompts.dir, cache, now);
    expect(restarted.file(a.hash)).toEqual(a.wav);
    expect(restarted.file(b.hash)).toBeUndefined();
    expect(restarted.render('hi-IN', amount, { order_amount: 720 })!.hash).toBe(b.hash);
    expect(restarted.file(b.hash)).toEqual(b.wav);
    expect(existsSync(file(b.hash))).toBe(true);
    // Nothing is removed before its time: the second was just used, the first not for three days.
    t += STITCHED_KEEP_MS - 1;
    expect(await restarted.prune()).toBe(1);
    expect(existsSync(file(b.hash))).toBe(true);
    expect(existsSync(file(a.hash))).toBe(false);
  });

  it('keeps at most 32 MiB of stitched files in memory, dropping the oldest; those on disk still play', async () => {
    cache = mkdtempSync(join(tmpdir(), 'exotel-caller-stitched-'));
    // A 2 MiB clip, so twenty amounts make 40 MiB of stitched files.
    const big = join(cache, 'prompts');
    mkdirSync(join(big, 'hi-IN'), { recursive: true });
    writeFileSync(join(big, 'hi-IN', 'amount.wav'), tone(1024 * 1024, 440));
    for (const name of ['rupees', ...DIGITS]) writeFileSync(join(big, 'hi-IN', `${name}.wav`), tone(samplesOf(name), 440));
    const inMemory = new ClipLibrary(big, undefined);
    const onDisk = new ClipLibrary(big, join(cache, 'stitched'));
    const amounts = Array.from({ length: 20 }, (_, i) => 100 + i);
    const memoryHashes = amounts.map((order_amount) => inMemory.render('hi-IN', amount, { order_amount })!.hash);
    const diskHashes = amounts.map((order_amount) => onDisk.render('hi-IN', amount, { order_amount })!.hash);
    const kept = memoryHashes.filter((hash) => inMemory.file(hash) !== undefined);
    const keptBytes = kept.reduce((sum, hash) => sum + inMemory.file(hash)!.length, 0);
    expect(keptBytes).toBeLessThanOrEqual(32 * 1024 * 1024);
    expect(kept.length).toBeGreaterThanOrEqual(14);
    // The newest are the ones kept; the oldest were dropped.
    expect(kept).toEqual(memoryHashes.slice(-kept.length));
    expect(inMemory.file(memoryHashes[0]!)).toBeUndefined();
    // With a cache directory, a file dropped from memory is still served, from disk.
    expect(diskHashes).toEqual(memoryHashes);
    expect(createHash('sha256').update(onDisk.file(diskHashes[0]!)!).digest('hex')).toBe(diskHashes[0]);
  });

  it('a library without a cache directory (a memory database) has nothing to prune', async () => {
    cache = mkdtempSync(join(tmpdir(), 'exotel-caller-stitched-'));
    expect(await new ClipLibrary(prompts.dir, undefined).prune()).toBe(0);
    // A cache directory nothing was stitched into yet.
    expect(await new ClipLibrary(prompts.dir, join(cache, 'not-yet')).prune()).toBe(0);
  });
});

describe('the scheduler prunes the stitched files of a running server', () => {
  let h: Harness;
  let t = new Date('2026-11-22T06:00:00.000Z').getTime();
  const logLines: string[] = [];
  beforeAll(async () => {
    h = await startHarness({ PROMPTS_DIR: prompts.dir, LOG_LEVEL: 'info' }, { now: () => new Date(t), logLines });
  });
  afterAll(async () => h.close());

  it('a call played through the simulator leaves its files; three days later the scheduler removes them', async () => {
    const placed = await h.trigger(order({ order_id: '4071', order_amount: 550, vendor_phone: '9000000003' }));
    const call = await h.simulator.finished(placed.body.call_sid);
    expect(call.problem).toBeUndefined();
    const greeting = readExoml(call.requests[0]!.body);
    if ('error' in greeting) throw new Error(greeting.error);
    const url = greeting.verbs[0]!.text;
    const hash = /\/audio\/([0-9a-f]{64})\.wav$/.exec(url)![1]!;
    const onDisk = join(dirname(h.app.config.databasePath), 'audio', `${hash}.wav`);
    expect(existsSync(onDisk)).toBe(true);

    await h.app.scheduler.tick();
    expect(existsSync(onDisk)).toBe(true);
    t += 3 * DAY;
    await h.app.scheduler.tick();
    expect(existsSync(onDisk)).toBe(false);
    const line = logLines.map((l) => JSON.parse(l) as { msg: string; removed?: number }).find((l) => l.msg.startsWith('Stitched prompts'));
    expect(line).toMatchObject({ msg: 'Stitched prompts no call has used for a while removed', removed: expect.any(Number) });
    expect(line!.removed).toBeGreaterThanOrEqual(1);
    // The process that stitched it still holds it in memory (a restarted one would stitch it again).
    const served = await request(url);
    await served.body.dump();
    expect(served.statusCode).toBe(200);
  });
});
