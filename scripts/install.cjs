#!/usr/bin/env node
// Install step of the published package. With a matching prebuilt binary (prebuilds/) nothing is
// compiled and nothing is downloaded. Without one (another platform), the addon is built from the
// bundled sources with cmake-js; if a tool is missing, this says which and how to get it.
// PREBUILDS_ONLY=1 forbids the source build. Nothing here runs in a development checkout.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
if (fs.existsSync(path.join(root, '.git'))) process.exit(0); // development checkout: npm run build

function loads() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

if (fs.existsSync(path.join(root, 'prebuilds')) && loads()) {
  process.exit(0); // a prebuilt binary matches this platform: nothing to compile
}
const target = `${process.platform}-${process.arch}`;
if (process.env.PREBUILDS_ONLY) {
  console.error(`spikelayers: no prebuilt binary for ${target} and PREBUILDS_ONLY is set; not building from source.`);
  process.exit(1);
}

function have(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore', shell: process.platform === 'win32' });
  return r.status === 0;
}
const missing = [];
if (!have('cmake', ['--version'])) missing.push('CMake >= 3.19 (e.g. apt-get install cmake, brew install cmake)');
const cxx = process.env.CXX || (process.platform === 'win32' ? null : 'c++');
if (cxx && !have(cxx, ['--version']))
  missing.push('a C++17 compiler with OpenMP (e.g. apt-get install g++; macOS: brew install llvm libomp)');
if (missing.length) {
  console.error(
    `spikelayers: there is no prebuilt binary for ${target}, and building from source needs:\n` +
      missing.map((m) => `  - ${m}\n`).join('') +
      'Install them and run npm install again. (CUDA is optional: with nvcc on PATH the build includes it.)',
  );
  process.exit(1);
}
console.log(`spikelayers: no prebuilt binary for ${target}; building from source with cmake-js`);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const r = spawnSync(process.execPath, [cmakeJs, 'rebuild'], { stdio: 'inherit', cwd: root });
process.exit(r.status === null ? 1 : r.status);
