import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'duplicati/index': 'src/duplicati/index.ts',
    'immich/index': 'src/immich/index.ts',
    'jellyfin/index': 'src/jellyfin/index.ts',
    'hooks/index': 'src/hooks/index.ts',
    'ops/index': 'src/ops/index.ts',
    'testing/index': 'src/testing/index.ts',
    'cli/main': 'src/cli/main.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: true,
  shims: false,
});
