export interface Greeting { name: string; times: number }
export function greet(g: Greeting): string {
  return `${g.name} x${g.times}`;
}
export function explode(msg: string): never {
  throw new Error(msg);
}
