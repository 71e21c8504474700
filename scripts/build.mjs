// Builds the two artefacts: the CLI (dependencies left external) and the agent (one self-contained file,
// mounted into stock Node images from a ConfigMap, so it must stay under 1 MiB and use only node: built-ins).
import { build } from 'esbuild';

const common = { bundle: true, platform: 'node', format: 'esm', target: 'node20', sourcemap: false, logLevel: 'warning' };
await Promise.all([
  build({ ...common, entryPoints: ['cli/main.ts'], outfile: 'dist/cli.js', packages: 'external',
    banner: { js: '#!/usr/bin/env node' } }),
  build({ ...common, entryPoints: ['agent/main.ts'], outfile: 'dist/agent.mjs', minify: true }),
]);
