export const options = { iterations: 1 };
export default function () { console.warn('careful', { n: 1 }); }
