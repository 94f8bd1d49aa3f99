/** Cut `buf` into chunks whose sizes cycle through `cuts`, to test stream code at every border. */
export function cutInto(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let at = 0;
  let i = 0;
  while (at < buf.length) {
    const n = cuts[i++ % cuts.length] as number;
    chunks.push(buf.subarray(at, at + n));
    at += n;
  }
  return chunks;
}
