// k6/experimental/fs and k6/experimental/csv on a real third-party CSV
// (Debian's release table from distro-info-data), checked against
// papaparse, the CSV library k6 users import (see TestE2ECSVAgainstPapaparse,
// which installs it from npm and copies the files next to this script).
import { open, SeekMode } from 'k6/experimental/fs';
import csv from 'k6/experimental/csv';
import { check } from 'k6';
import Papa from './node_modules/papaparse/papaparse.js';

export const options = {
  scenarios: { each: { executor: 'per-vu-iterations', vus: 2, iterations: 3 } },
  thresholds: { checks: ['rate==1'] },
};

// k6's documented pattern for scripts without top-level await: the init
// context's event loop finishes the async function before the test starts.
let file, rows, arrays, parser;
(async function () {
  file = await open('debian.csv');
  rows = await csv.parse(file, { asObjects: true });
  arrays = await csv.parse(file, { skipFirstLine: true });
  parser = new csv.Parser(file, { skipFirstLine: true });
})();
const papa = Papa.parse(globalThis.open('debian.csv'), { header: true, skipEmptyLines: true });

let next = 0; // this VU's count of parser rows (a VU may serve both slots)

export default async function () {
  const info = await file.stat();
  await file.seek(0, SeekMode.Start);
  const buf = new Uint8Array(info.size + 10);
  const n = await file.read(buf);
  const { done, value } = await parser.next();
  const want = papa.data[next++];
  check(null, {
    // some old releases have no LTS dates: papaparse flags the short rows
    'papaparse found rows': () => papa.data.length > 10 && papa.errors.every((e) => e.code === 'TooFewFields'),
    'same row count as papaparse': () => rows.length === papa.data.length && arrays.length === papa.data.length,
    'same objects as papaparse': () => rows.every((r, i) => JSON.stringify(r) === JSON.stringify(papa.data[i])),
    'arrays match the header order': () =>
      arrays.every((a, i) => a.join() === papa.meta.fields.slice(0, a.length).map((f) => papa.data[i][f]).join()),
    'stat and read': () => info.name === 'debian.csv' && n === info.size,
    'streaming parser row': () => !done && value[1] === want.codename && value[0] === want.version,
  });
}
