// Shared helpers of the experiment scripts. Every knob comes from the
// environment (k6's __ENV: `-e K=V` or the process env), with the
// write-up's values as defaults, so the same script runs in `spread lab`,
// in `spread experiments` and unchanged against a real cluster.

// envStr returns __ENV[name], or def when unset or empty.
export function envStr(name, def) {
  const v = __ENV[name];
  return v === undefined || v === '' ? def : v;
}

// envInt returns __ENV[name] as an integer, or def.
export function envInt(name, def) {
  const v = envStr(name, '');
  if (v === '') return def;
  const n = parseInt(v, 10);
  if (isNaN(n)) throw new Error(`${name}=${v}: not an integer`);
  return n;
}

// envBool returns __ENV[name] as a boolean ("1", "true", "yes"), or def.
export function envBool(name, def) {
  const v = envStr(name, '');
  if (v === '') return def;
  return ['1', 'true', 'yes', 'on'].indexOf(v.toLowerCase()) >= 0;
}

// loadOptions: the write-up's load (1000 users) for 5 minutes by default;
// the lab's plan shortens both through VUS and DURATION.
export function loadOptions(extra) {
  const o = {
    vus: envInt('VUS', 1000),
    duration: envStr('DURATION', '5m'),
  };
  for (const k in extra || {}) o[k] = extra[k];
  return o;
}

// target returns the URL of GET / on the base URL in __ENV[name] (set by
// the lab), else on the in-cluster default.
export function target(name, def) {
  return envStr(name, def).replace(/\/+$/, '') + '/';
}

// pause sleeps SLEEP seconds between iterations when set (default none:
// the server's delay paces the VUs, as in the write-up). A think time
// leaves most VUs idle at any instant, which the scale-down experiments
// use to tell requests in flight at the removal from new ones.
export function pause(sleep) {
  const s = parseFloat(envStr('SLEEP', '0'));
  if (s > 0) sleep(s);
}

// ok is the one check every script makes.
export const ok = { 'status is 200': (r) => r.status === 200 };
