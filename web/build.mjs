// Bundles each page's ES module (and the CSS it imports) into api/static/build/ with esbuild.
// Run by ./dev after npm ci; `npm run build` by hand.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'api', 'static', 'build');
rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { modeler: 'web/modeler.js', instance: 'web/instance.js', dashboard: 'web/dashboard.js',
    bulletin: 'web/bulletin.js', home: 'web/home.js', tasks: 'web/tasks.js', contracts: 'web/contracts.js',
    contract: 'web/contract.js' },
  bundle: true,
  format: 'esm',
  target: ['es2020'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  outdir,
  assetNames: 'assets/[name]-[hash]',
  loader: { '.woff': 'file', '.woff2': 'file', '.eot': 'file', '.ttf': 'file', '.svg': 'file' },
  logLevel: 'warning',
});
console.log(`built ${outdir}`);
