import { helper } from './lib/broken.js';
export default function () { helper(); }
