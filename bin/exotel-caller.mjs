#!/usr/bin/env node
// npx exotel-caller …: the built CLI (npm run build), or the TypeScript source through tsx in a checkout.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (existsSync(built)) {
  await import(built);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(fileURLToPath(new URL('../src/cli.ts', import.meta.url)));
}
