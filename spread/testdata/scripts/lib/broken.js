const table = undefined;
export const size = table.length;
export function helper() {}
