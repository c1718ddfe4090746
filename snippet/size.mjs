// Size report for the snippet: raw source, minified, min+gzip, min+brotli, each with the
// change since the build recorded in size.json, and the min+gzip budget from
// package.json ("sizeBudget").
//
//   node size.mjs            print the report (exit 1 when over budget)
//   node size.mjs --record   print it, then record these figures in size.json
//   node size.mjs --json     print the figures as JSON
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const here = (name) => fileURLToPath(new URL(name, import.meta.url));
const RECORD = here('size.json');

/** Byte counts of one build; gzip at level 9, brotli at quality 11 (what servers use). */
export function measure(source, minified) {
  return {
    raw: source.length,
    min: minified.length,
    gzip: gzipSync(minified, { level: 9 }).length,
    brotli: brotliCompressSync(minified, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
        [constants.BROTLI_PARAM_SIZE_HINT]: minified.length,
      },
    }).length,
  };
}

export function readRecord() {
  try {
    return JSON.parse(readFileSync(RECORD, 'utf8'));
  } catch {
    return null;
  }
}

function main() {
  const figures = measure(readFileSync(here('cartback.js')), readFileSync(here('cartback.min.js')));
  const budget = JSON.parse(readFileSync(here('package.json'), 'utf8')).sizeBudget.minGzip;
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify({ ...figures, budget }));
  } else {
    const record = readRecord();
    const labels = { raw: 'raw', min: 'min', gzip: 'min+gzip', brotli: 'min+brotli' };
    for (const [key, label] of Object.entries(labels)) {
      const was = record?.[key];
      const delta = was === undefined ? 'no record' : `${figures[key] - was >= 0 ? '+' : ''}${figures[key] - was}`;
      console.log(`${label.padEnd(11)} ${String(figures[key]).padStart(6)} bytes  (${delta})`);
    }
    console.log(`budget      ${String(budget).padStart(6)} bytes min+gzip, ${budget - figures.gzip} to spare`);
  }
  if (process.argv.includes('--record')) {
    writeFileSync(RECORD, JSON.stringify(figures, null, 2) + '\n');
  }
  if (figures.gzip > budget) {
    console.error(`over budget: ${figures.gzip} > ${budget} bytes min+gzip`);
    process.exit(1);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
