// The stress run drives the built package, the way an application loads it.

import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const DIST = new URL('../dist/index.js', import.meta.url);

export async function loadBuiltPackage() {
  try {
    await access(DIST);
  } catch {
    throw new Error(`${fileURLToPath(DIST)} is missing: run \`npm run build\` first`);
  }
  return import(DIST.href);
}
