#!/usr/bin/env node
// prebuildify calls "<node-gyp> rebuild --target=.. --arch=.. --release"; this bridge runs
// cmake-js instead. Extra cmake-js flags come from SPIKELAYERS_CMAKE_JS_FLAGS.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const args = process.argv.slice(2);
const arch = (args.find((a) => a.startsWith('--arch=')) || '').slice('--arch='.length) || process.arch;
const debug = args.includes('--debug');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const extra = (process.env.SPIKELAYERS_CMAKE_JS_FLAGS || '').split(/\s+/).filter(Boolean);
const cmd = ['rebuild', '--arch', arch, ...(debug ? ['--debug'] : []), ...extra];
const r = spawnSync(process.execPath, [cmakeJs, ...cmd], { stdio: 'inherit', cwd: path.resolve(__dirname, '..') });
process.exit(r.status === null ? 1 : r.status);
