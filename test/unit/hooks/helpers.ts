import type { LineSink } from '../../../src/hooks/output.js';

/** A sink that keeps what was written, for asserting protocol lines. */
export function memorySink(): LineSink & { text: () => string; lines: () => string[] } {
  const chunks: string[] = [];
  return {
    write(chunk: string, callback?: (error?: Error | null) => void): boolean {
      chunks.push(chunk);
      callback?.();
      return true;
    },
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== ''),
  };
}
