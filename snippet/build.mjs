// Builds cartback.min.js from cartback.js with the pinned terser (package-lock.json).
//
//   node build.mjs           write cartback.min.js
//   node build.mjs --check   rebuild in memory; exit 1 if the committed cartback.min.js
//                            (or the figures recorded in size.json) differ from it
//
// The options below are part of the build: changing them changes the committed bytes.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { minify } from 'terser';
import { measure, readRecord } from './size.mjs';

const here = (name) => fileURLToPath(new URL(name, import.meta.url));
const SOURCE = here('cartback.js');
const OUTPUT = here('cartback.min.js');

const OPTIONS = {
  ecma: 2020,
  toplevel: true,
  compress: { passes: 3, unsafe: true },
  mangle: true,
  format: { comments: false },
};

export async function build() {
  const result = await minify(readFileSync(SOURCE, 'utf8'), OPTIONS);
  return Buffer.from(result.code, 'utf8');
}

function readOrNull(path) {
  try {
    return readFileSync(path);
  } catch {
    return null;
  }
}

const built = await build();
if (process.argv.includes('--check')) {
  const committed = readOrNull(OUTPUT);
  if (committed === null || !committed.equals(built)) {
    console.error(
      'snippet/cartback.min.js is stale: it differs from a fresh build of cartback.js.\n' +
        'Run `npm run build` in snippet/ and commit cartback.min.js and size.json.',
    );
    process.exit(1);
  }
  const record = readRecord();
  const figures = measure(readFileSync(SOURCE), built);
  const mismatched = Object.keys(figures).filter((key) => record?.[key] !== figures[key]);
  if (mismatched.length) {
    console.error(
      `snippet/size.json does not record this build (${mismatched.join(', ')} differ).\n` +
        'Run `npm run build` in snippet/ and commit size.json.',
    );
    process.exit(1);
  }
  console.log(`cartback.min.js is up to date (${built.length} bytes).`);
} else {
  writeFileSync(OUTPUT, built);
  console.log(`wrote cartback.min.js (${built.length} bytes)`);
}
