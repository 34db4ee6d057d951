import exec from 'k6/execution';
export const options = { vus: 3, iterations: 3 };
export function setup() { console.log('setup vusInitialized=' + exec.instance.vusInitialized); }
export default function () { console.log('iter vusInitialized=' + exec.instance.vusInitialized); }
