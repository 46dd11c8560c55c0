#!/usr/bin/env node
// Builds the wallet's test fixtures into build/ (checked in; sov-chain's `testing` feature embeds
// them). Test-only: nothing here is linked into or shipped with Sovereign (see README.md).
//   TestToken.json                 src/TestToken.sol on OpenZeppelin's ERC20, solc-js 0.8
//   ENSRegistry.json,              @ensdomains/ens's registry and reverse registrar and
//   ReverseRegistrar.json,         src/TestResolver.sol, solc-js 0.7 (ENS's sources need ^0.7)
//   TestResolver.json
//   UniswapV2Factory.json,         abi and bytecode copied from the compiled artifacts that
//   UniswapV2Pair.json,            @uniswap/v2-core and @uniswap/v2-periphery publish (GPL-3.0:
//   UniswapV2Router02.json,        test fixtures only); the router's pair init code hash is
//   WETH9.json                     checked against the factory's pair
//
// Usage: node build.js [--check] [--modules DIR]   (as ../compile.js)
"use strict";

const fs = require("fs");
const path = require("path");

const here = __dirname;
const args = process.argv.slice(2);
const check = args.includes("--check");
const modulesFlag = args.indexOf("--modules");
const modules = path.resolve(
  modulesFlag >= 0
    ? args[modulesFlag + 1]
    : process.env.SOV_CONTRACTS_NODE_MODULES || path.join(here, "..", "node_modules"),
);
const need = (name) => require(path.join(modules, name));
const version = (name) => need(`${name}/package.json`).version;

function findImports(importPath) {
  // Only the pinned packages may be imported: no remote URLs, no paths outside node_modules.
  const resolved = path.resolve(modules, importPath);
  if (!resolved.startsWith(modules + path.sep) || !fs.existsSync(resolved)) {
    return { error: `import not found in ${modules}: ${importPath}` };
  }
  return { contents: fs.readFileSync(resolved, "utf8") };
}

/// Compiles `sources` (paths: ours relative to here, the rest inside node_modules) with `solc`
/// and returns a Hardhat-style artifact for each of `contracts` ([source, name] pairs).
function compile(solc, settings, sources, contracts) {
  const input = {
    language: "Solidity",
    sources: Object.fromEntries(
      sources.map((s) => [s, { content: fs.readFileSync(s.startsWith("src/") ? path.join(here, s) : path.join(modules, s), "utf8") }]),
    ),
    settings: {
      ...settings,
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  // Warnings about our own sources are shown; the packages' old-style warnings are not ours to fix.
  for (const e of output.errors || []) {
    if (e.severity === "error" || (e.sourceLocation && e.sourceLocation.file.startsWith("src/"))) {
      console.error(e.formattedMessage);
    }
  }
  if (errors.length > 0) throw new Error(`solc ${solc.version()} reported ${errors.length} error(s)`);
  return contracts.map(([source, name]) => {
    const contract = output.contracts[source][name];
    const bytecode = contract.evm.bytecode.object;
    if (bytecode.length === 0 || bytecode.includes("__$")) throw new Error(`${name}: no bytecode, or unlinked libraries`);
    return [
      `${name}.json`,
      {
        _format: "hh-sol-artifact-1",
        contractName: name,
        sourceName: source,
        abi: contract.abi,
        bytecode: "0x" + bytecode,
        deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
        linkReferences: {},
        deployedLinkReferences: {},
        compiler: { name: "solc-js", version: solc.version() },
        settings,
      },
    ];
  });
}

/// An npm package's published artifact, reduced to its abi and bytecode.
function published(pkg, file, name) {
  const artifact = need(`${pkg}/build/${file}`);
  const bytecode = artifact.evm.bytecode.object || artifact.bytecode;
  const deployed = artifact.evm.deployedBytecode.object;
  if (!/^[0-9a-f]+$/.test(bytecode)) throw new Error(`${pkg}/build/${file}: no linked bytecode`);
  return [
    `${name}.json`,
    {
      _format: "hh-sol-artifact-1",
      contractName: name,
      sourceName: `${pkg}/build/${file}`,
      abi: artifact.abi,
      bytecode: "0x" + bytecode,
      deployedBytecode: "0x" + deployed,
      linkReferences: {},
      deployedLinkReferences: {},
      package: `${pkg}@${version(pkg)}`,
      license: need(`${pkg}/package.json`).license,
      note: "test fixture only: GPL-licensed, never linked into or shipped with Sovereign",
    },
  ];
}

function build() {
  const tokens = compile(
    need("solc"),
    { evmVersion: "cancun", optimizer: { enabled: true, runs: 200 } },
    ["src/TestToken.sol"],
    [["src/TestToken.sol", "TestToken"]],
  );
  const ens = compile(
    need("solc-0.7"),
    // solc 0.7 knows no later EVM than Istanbul; anvil runs its bytecode unchanged.
    { evmVersion: "istanbul", optimizer: { enabled: true, runs: 200 } },
    ["@ensdomains/ens/contracts/ENSRegistry.sol", "@ensdomains/ens/contracts/ReverseRegistrar.sol", "src/TestResolver.sol"],
    [
      ["@ensdomains/ens/contracts/ENSRegistry.sol", "ENSRegistry"],
      ["@ensdomains/ens/contracts/ReverseRegistrar.sol", "ReverseRegistrar"],
      ["src/TestResolver.sol", "TestResolver"],
    ],
  );
  const uniswap = [
    published("@uniswap/v2-core", "UniswapV2Factory.json", "UniswapV2Factory"),
    published("@uniswap/v2-core", "UniswapV2Pair.json", "UniswapV2Pair"),
    published("@uniswap/v2-periphery", "UniswapV2Router02.json", "UniswapV2Router02"),
    published("@uniswap/v2-periphery", "WETH9.json", "WETH9"),
  ];
  // UniswapV2Library computes pair addresses from the pair's init code hash, baked into the
  // router: it must be the hash of the pair the factory deploys.
  const keccak = need("js-sha3").keccak256;
  const pair = uniswap[1][1];
  const initCodeHash = keccak(Buffer.from(pair.bytecode.slice(2), "hex"));
  if (!uniswap[0][1].bytecode.includes(pair.bytecode.slice(2))) throw new Error("the factory does not deploy this UniswapV2Pair");
  if (!uniswap[2][1].bytecode.includes(initCodeHash)) throw new Error(`the router's pair init code hash is not ${initCodeHash}`);
  pair.initCodeHash = "0x" + initCodeHash;

  return Object.fromEntries([...tokens, ...ens, ...uniswap].map(([file, artifact]) => [file, JSON.stringify(artifact, null, 2) + "\n"]));
}

function main() {
  const files = build();
  const buildDir = path.join(here, "build");
  let stale = 0;
  for (const [name, content] of Object.entries(files)) {
    const target = path.join(buildDir, name);
    if (check) {
      const current = fs.existsSync(target) ? fs.readFileSync(target, "utf8") : null;
      if (current !== content) {
        console.error(`contracts/test-fixtures/build/${name} differs from a fresh build: run scripts/compile-contracts.sh`);
        stale += 1;
      }
    } else {
      fs.mkdirSync(buildDir, { recursive: true });
      fs.writeFileSync(target, content);
      console.log(`wrote contracts/test-fixtures/build/${name}`);
    }
  }
  const extra = fs.existsSync(buildDir) ? fs.readdirSync(buildDir).filter((f) => !(f in files)) : [];
  for (const f of extra) console.error(`contracts/test-fixtures/build/${f} is not built by build.js: remove it`);
  if (stale + extra.length > 0) process.exit(1);
  if (check) console.log("contracts/test-fixtures/build matches a fresh build");
}

main();
