// k6/secrets with --secret-source (see TestE2ESecrets): the values reach
// the script, and the log lines show them redacted.
import secrets from 'k6/secrets';
import { check } from 'k6';

export const options = { iterations: 1, thresholds: { checks: ['rate==1'] } };

export default async function () {
  const fromFile = await secrets.get('api_token');
  const fromEnv = await secrets.source('env').get('PASSWORD');
  const fromMock = await secrets.source('cli').get('cool');
  console.log(`token=${fromFile} password=${fromEnv} cool=${fromMock}`);
  check(null, {
    'file secret': () => fromFile === 's3cr3t-token',
    'env secret': () => fromEnv === 'hunter2',
    'mock secret': () => fromMock === 'cool secret',
  });
  let missing = '';
  try { await secrets.get('nope'); } catch (e) { missing = e.message; }
  check(null, { 'missing secret rejects': () => missing.includes('no secret "nope"') });
}
