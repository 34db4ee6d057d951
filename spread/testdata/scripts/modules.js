// k6's standard modules as a k6 user imports them (issue 11); every check
// must pass (the threshold turns a failed one into exit code 99).
import { check } from 'k6';
import encoding from 'k6/encoding';
import { b64decode } from 'k6/encoding';
import crypto from 'k6/crypto';
import { parseHTML } from 'k6/html';

export const options = {
  iterations: 2,
  thresholds: { checks: ['rate==1'] },
};

const page = open('./lib/page.html');

export default function () {
  const token = encoding.b64encode('user:pass');
  const sig = crypto.hmac('sha256', 'secret', 'payload', 'base64rawurl');
  const doc = parseHTML(page);
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
  });
}
