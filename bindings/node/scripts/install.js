'use strict';
/**
 * npm's install script: builds libperdure and the addon perdure.node with
 * meson and ninja (as bindings/python/setup.py does for the Python package)
 * and copies both into the package, where lib/native.js loads them (the addon
 * finds libperdure.so.0 beside it through its $ORIGIN rpath).
 *
 * Needs what scripts/setup installs (meson, ninja, a C compiler, the -dev
 * packages, Node's headers). PERDURE_BUILD_DIR reuses an existing meson build
 * directory; PERDURE_SOURCE_DIR names the repository when the package was
 * copied out of it. PERDURE_SKIP_BUILD=1 skips the build.
 */
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const HERE = path.resolve(__dirname, '..');

function repositoryRoot() {
  const candidates = [process.env.PERDURE_SOURCE_DIR, path.resolve(HERE, '..', '..')].filter(Boolean);
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'ffi', 'include', 'perdure.h')) &&
    fs.existsSync(path.join(dir, 'meson.build'))) || null;
}

function run(cmd, args) {
  process.stderr.write(`perdure install: ${cmd} ${args.join(' ')}\n`);
  execFileSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
}

function main() {
  if (process.env.PERDURE_SKIP_BUILD === '1') return;
  const root = repositoryRoot();
  if (!root) {
    if (fs.existsSync(path.join(HERE, 'perdure.node'))) return;   // already built into the package
    throw new Error('perdure install: the Perdure sources are not found (install from a checkout: '
      + '`npm install <repo>/bindings/node`, or set PERDURE_SOURCE_DIR)');
  }
  let build = process.env.PERDURE_BUILD_DIR ? path.resolve(process.env.PERDURE_BUILD_DIR) : null;
  if (!build) {
    build = path.join(HERE, 'build', 'meson');
    if (!fs.existsSync(path.join(build, 'build.ninja'))) {
      run('meson', ['setup', build, root, '--buildtype=release', '-Db_ndebug=true']);
    }
  }
  run('ninja', ['-C', build, 'libperdure.so.0.1.0', path.join('bindings', 'node', 'perdure.node')]);
  fs.copyFileSync(path.join(build, 'libperdure.so.0.1.0'), path.join(HERE, 'libperdure.so.0'));
  fs.copyFileSync(path.join(build, 'bindings', 'node', 'perdure.node'), path.join(HERE, 'perdure.node'));
  process.stderr.write(`perdure install: ${path.join(HERE, 'perdure.node')}\n`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`${e && e.message ? e.message : e}\n`);
  process.exit(1);
}
