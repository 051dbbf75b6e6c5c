// Build-time compiler of the digitalasset contracts (solc-js, pinned in package.json).
// Usage: node compile.js NODE_MODULES_DIR CONTRACTS_DIR
// Writes CONTRACTS_DIR/artifacts/<Contract>.json (ABI, creation and runtime bytecode, compiler
// settings, SHA-256 of each source) so that the platform runs without node.
"use strict";
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");

const [nodeModules, contractsDir] = process.argv.slice(2);
if (!nodeModules || !contractsDir) {
  process.stderr.write("usage: node compile.js NODE_MODULES_DIR CONTRACTS_DIR\n");
  process.exit(2);
}
const solc = require(path.resolve(nodeModules, "solc"));
const ozPackage = require(path.resolve(nodeModules, "@openzeppelin/contracts/package.json"));
// OpenZeppelin 5.x uses MCOPY: the target chain must run Cancun or later (Besu, Geth do).
const EVM_VERSION = "cancun";

const sha256 = (text) => crypto.createHash("sha256").update(text).digest("hex");
const sources = {};
for (const name of fs.readdirSync(contractsDir).sort()) {
  if (name.endsWith(".sol")) {
    sources[name] = { content: fs.readFileSync(path.join(contractsDir, name), "utf8") };
  }
}

function findImports(importPath) {
  // Only package imports from node_modules: refuse absolute paths and any `..` segment.
  if (path.isAbsolute(importPath) || importPath.split("/").includes("..")) {
    return { error: `refused import path ${importPath}` };
  }
  if (!importPath.startsWith("@openzeppelin/contracts/")) {
    return { error: `unknown import ${importPath}` };
  }
  try {
    return { contents: fs.readFileSync(path.join(nodeModules, importPath), "utf8") };
  } catch (e) {
    return { error: `cannot read ${importPath}: ${e.message}` };
  }
}

const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: EVM_VERSION,
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};
const input = { language: "Solidity", sources, settings };
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) process.stderr.write(e.formattedMessage + "\n");
if (errors.length) process.exit(1);

const outDir = path.join(contractsDir, "artifacts");
fs.mkdirSync(outDir, { recursive: true });
for (const [file, contracts] of Object.entries(output.contracts)) {
  if (!(file in sources)) continue; // library contracts are not shipped on their own
  for (const [name, c] of Object.entries(contracts)) {
    const artifact = {
      contractName: name,
      sourceName: file,
      sourceSha256: sha256(sources[file].content),
      compiler: { name: "solc-js", version: solc.version(), settings: { optimizer: settings.optimizer, evmVersion: EVM_VERSION } },
      openzeppelin: ozPackage.version,
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
    };
    fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 1) + "\n");
    process.stdout.write(`${name}: ${c.evm.deployedBytecode.object.length / 2} bytes runtime\n`);
  }
}
