#!/usr/bin/env node
// Compiles src/ZkApiCredits.sol with solc-js (offline, standard JSON, optimizer on) and writes
//   build/ZkApiCredits.json       Hardhat-style artifact (abi, bytecode, deployedBytecode) that
//                                 alloy's `sol!` macro reads, plus the compiler version and settings;
//   build/poseidon-libraries.json how to put the Poseidon libraries the bytecode is linked against
//                                 on a chain that lacks them (poseidon-solidity's CREATE2 data).
// The Poseidon hashes are public library functions, so the contract calls them at poseidon-solidity's
// deterministic addresses (the same on every chain) instead of carrying 5 MB-gas copies of them.
//
// Usage: node compile.js [--check] [--modules DIR]
//   --modules DIR  node_modules holding solc, poseidon-solidity and @zk-kit/imt.sol
//                  (default: $SOV_CONTRACTS_NODE_MODULES, else ./node_modules)
//   --check        compile and compare with build/ instead of writing; exit 1 if they differ.
"use strict";

const fs = require("fs");
const path = require("path");

const here = __dirname;
const args = process.argv.slice(2);
const check = args.includes("--check");
const modulesFlag = args.indexOf("--modules");
const modules = path.resolve(
  modulesFlag >= 0 ? args[modulesFlag + 1] : process.env.SOV_CONTRACTS_NODE_MODULES || path.join(here, "node_modules"),
);

const solc = require(path.join(modules, "solc"));
const poseidon = require(path.join(modules, "poseidon-solidity"));

const SOURCE = "src/ZkApiCredits.sol";
const CONTRACT = "ZkApiCredits";
const LIBRARIES = ["PoseidonT2", "PoseidonT3", "PoseidonT4"];
const SETTINGS = {
  // Cancun is what current mainnet and L2s and anvil all accept; nothing here needs later opcodes.
  evmVersion: "cancun",
  optimizer: { enabled: true, runs: 200 },
  libraries: Object.fromEntries(
    LIBRARIES.map((name) => [`poseidon-solidity/${name}.sol`, { [name]: poseidon[name].address }]),
  ),
  outputSelection: { [SOURCE]: { [CONTRACT]: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

function findImports(importPath) {
  // Only the pinned packages may be imported: no remote URLs, no paths outside node_modules.
  const resolved = path.resolve(modules, importPath);
  if (!resolved.startsWith(modules + path.sep) || !fs.existsSync(resolved)) {
    return { error: `import not found in ${modules}: ${importPath}` };
  }
  return { contents: fs.readFileSync(resolved, "utf8") };
}

function compile() {
  const input = {
    language: "Solidity",
    sources: { [SOURCE]: { content: fs.readFileSync(path.join(here, SOURCE), "utf8") } },
    settings: SETTINGS,
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) console.error(e.formattedMessage);
  if (errors.length > 0) throw new Error(`solc reported ${errors.length} error(s)`);

  const contract = output.contracts[SOURCE][CONTRACT];
  const bytecode = contract.evm.bytecode.object;
  if (bytecode.includes("__$")) throw new Error("bytecode still has unlinked library placeholders");
  const { outputSelection, ...settings } = SETTINGS;
  const artifact = {
    _format: "hh-sol-artifact-1",
    contractName: CONTRACT,
    sourceName: SOURCE,
    abi: contract.abi,
    bytecode: "0x" + bytecode,
    deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
    linkReferences: {},
    deployedLinkReferences: {},
    compiler: { name: "solc-js", version: solc.version() },
    settings,
  };

  const proxy = poseidon.proxy;
  const libraries = {
    note: "poseidon-solidity 0.0.5: deploy each library by sending deployData to the CREATE2 proxy; if the proxy is missing, fund `from` with fundingWei and broadcast the presigned `tx` first.",
    proxy: { address: proxy.address, from: proxy.from, fundingWei: proxy.gas, tx: proxy.tx },
    libraries: LIBRARIES.map((name) => ({
      name,
      address: poseidon[name].address,
      deployData: poseidon[name].data,
    })),
  };
  return {
    "ZkApiCredits.json": JSON.stringify(artifact, null, 2) + "\n",
    "poseidon-libraries.json": JSON.stringify(libraries, null, 2) + "\n",
  };
}

function main() {
  const files = compile();
  const buildDir = path.join(here, "build");
  let stale = 0;
  for (const [name, content] of Object.entries(files)) {
    const target = path.join(buildDir, name);
    if (check) {
      const current = fs.existsSync(target) ? fs.readFileSync(target, "utf8") : null;
      if (current !== content) {
        console.error(`contracts/build/${name} differs from a fresh compile: run scripts/compile-contracts.sh`);
        stale += 1;
      }
    } else {
      fs.mkdirSync(buildDir, { recursive: true });
      fs.writeFileSync(target, content);
      console.log(`wrote contracts/build/${name}`);
    }
  }
  if (stale > 0) process.exit(1);
  if (check) console.log(`contracts/build matches a fresh compile with solc ${solc.version()}`);
}

main();
