export const options = { setupTimeout: '300ms', iterations: 1 };
export function setup() { for (;;) {} }
export default function () {}
