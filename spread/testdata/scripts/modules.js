// k6's standard modules as a k6 user imports them (issue 11); every check
// must pass (the threshold turns a failed one into exit code 99).
import { check } from 'k6';
import encoding from 'k6/encoding';
import { b64decode } from 'k6/encoding';
import crypto from 'k6/crypto';
import { parseHTML } from 'k6/html';
import { SharedArray } from 'k6/data';
import { crypto as webcrypto } from 'k6/experimental/webcrypto';

export const options = {
  iterations: 2,
  thresholds: { checks: ['rate==1'] },
};

const page = open('./lib/page.html');
const users = new SharedArray('users', () => JSON.parse(open('./lib/users.json')));

const hex = (b) => Array.from(new Uint8Array(b)).map((x) => x.toString(16).padStart(2, '0')).join('');

export default async function () {
  const token = encoding.b64encode('user:pass');
  const sig = crypto.hmac('sha256', 'secret', 'payload', 'base64rawurl');
  const doc = parseHTML(page);
  const user = users[__ITER % users.length];
  const digest = hex(await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode('abc')));
  const key = await globalThis.crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']);
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const ct = await globalThis.crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, new TextEncoder().encode(user.name));
  const pt = new TextDecoder().decode(await globalThis.crypto.subtle.decrypt({ name: 'AES-GCM', iv }, key, ct));
  const kp = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const sig2 = await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, kp.privateKey, new TextEncoder().encode('m'));
  check(null, {
    'b64 round trip': () => b64decode(token, 'std', 's') === 'user:pass',
    'hmac of published vector': () =>
      crypto.hmac('sha256', 'Jefe', 'what do ya want for nothing?', 'hex') ===
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    'hmac binary to b64': () =>
      encoding.b64encode(crypto.hmac('sha256', 'secret', 'payload', 'binary'), 'rawurl') === sig,
    'incremental hash': () => crypto.createHash('md5').update('a').update('bc').digest('hex') === '900150983cd24fb0d6963f7d28e17f72',
    'html title': () => doc.find('title').text() === 'Shop',
    'html links': () => doc.find('a.product').map((i, el) => el.getAttribute('href')).join() === '/p/1,/p/2',
    'html csrf': () => doc.find('input[name=csrf]').val() === 'tok123',
    'shared array': () => users.length === 3 && typeof user.name === 'string',
    'shared array read-only': () => { try { users[0] = 1; return false; } catch (e) { return true; } },
    'subtle digest': () => digest === 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    'aes-gcm round trip': () => pt === user.name,
    'ecdsa signature size': () => sig2.byteLength === 64,
    'uuid': () => /^[0-9a-f-]{36}$/.test(globalThis.crypto.randomUUID()),
  });
}
