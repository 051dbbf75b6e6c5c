// Presents solc-js (npm `solc`, the wasm build) as the native `solc` that crytic-compile/Slither
// call: `--version` and `--standard-json` (stdin -> stdout). MINGYUE_SOLCJS names the package
// directory of the wanted version; MINGYUE_SOLC_OUT, when set, also receives the output (the
// audit's own rules read the AST from it). Sources resolve under --allow-paths only: any path
// outside it (`..`, other folders, links leading out) is refused. Output goes through
// fs.writeSync: process.stdout.write followed by process.exit truncates large JSON.
'use strict';
const fs = require('fs');
const path = require('path');

function write(fd, text) {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
}

const pkg = process.env.MINGYUE_SOLCJS;
if (!pkg) { write(2, 'MINGYUE_SOLCJS is not set\n'); process.exit(2); }
const solc = require(pkg);
const args = process.argv.slice(2);
const version = solc.version();

if (args.includes('--version')) {
  write(1, 'solc, the solidity compiler commandline interface\nVersion: ' + version + '\n');
  process.exit(0);
}
if (!args.includes('--standard-json')) {
  write(2, 'this solc shim answers only --version and --standard-json\n');
  process.exit(2);
}
const ap = args.indexOf('--allow-paths');
const base = fs.realpathSync(ap >= 0 && args[ap + 1] ? args[ap + 1].split(',')[0] : process.cwd());

function findImports(p) {
  // crytic-compile names sources by absolute path; imports come relative. Both must stay inside
  // the folder crytic-compile allowed (our scratch copy): anything else is refused.
  let full;
  try { full = fs.realpathSync(path.resolve(base, p)); } catch (e) { return { error: 'not found: ' + p }; }
  if (!full.startsWith(base + path.sep)) return { error: 'import refused: ' + p };
  try { return { contents: fs.readFileSync(full, 'utf8') }; } catch (e) { return { error: 'not found: ' + p }; }
}

const input = fs.readFileSync(0, 'utf8');
const m = /^(\d+)\.(\d+)\./.exec(version);
const minor = m ? parseInt(m[2], 10) : 8;
let out;
if (minor <= 4 && typeof solc.compileStandardWrapper === 'function') out = solc.compileStandardWrapper(input, findImports);
else if (minor === 5) out = solc.compile(input, findImports);
else out = solc.compile(input, { import: findImports });
if (process.env.MINGYUE_SOLC_OUT) fs.writeFileSync(process.env.MINGYUE_SOLC_OUT, out);
write(1, out);
process.exit(0);
