# Sovereign's package: `sov`, `sbox` and `sbox-init`, built from Cargo.lock (no network at build
# time). llama.cpp is compiled by the llama-cpp-2 crate's build script with cmake and bindgen.
#
# Not tuned to the building CPU: .cargo/config.toml's `-C target-cpu=native` is for `cargo
# install` on the machine that runs it; here it is overridden so the result runs on any x86-64
# (or aarch64) machine of its class. `cudaSupport`/`vulkanSupport` build llama.cpp's GPU
# backends (untested here: no GPU on the machine that tests this file).
{
  lib,
  rustPlatform,
  cmake,
  pkg-config,
  bubblewrap,
  makeWrapper,
  openssl,
  cudaSupport ? false,
  cudaPackages ? { },
  vulkanSupport ? false,
  vulkan-loader ? null,
  vulkan-headers ? null,
  shaderc ? null,
}:

rustPlatform.buildRustPackage {
  pname = "sovereign";
  version = "0.1.0";

  src = lib.cleanSource ../.;
  cargoLock.lockFile = ../Cargo.lock;

  cargoBuildFlags = [ "-p" "sov" "-p" "sov-sbox" ];
  # The tests start servers, sandboxes and a private Tor network: run by scripts/test.sh, not here.
  doCheck = false;

  nativeBuildInputs = [ cmake pkg-config rustPlatform.bindgenHook makeWrapper ]
    ++ lib.optionals cudaSupport [ cudaPackages.cuda_nvcc ]
    ++ lib.optionals vulkanSupport [ shaderc ];
  buildInputs = [ openssl ]
    ++ lib.optionals cudaSupport [ cudaPackages.cuda_cudart cudaPackages.libcublas ]
    ++ lib.optionals vulkanSupport [ vulkan-loader vulkan-headers ];

  buildFeatures = lib.optionals cudaSupport [ "sov/cuda" ] ++ lib.optionals vulkanSupport [ "sov/vulkan" ];

  # A portable build, whatever .cargo/config.toml says for local installs.
  env.CARGO_BUILD_RUSTFLAGS = "";
  dontUseCmakeConfigure = true;

  # The sandbox needs bubblewrap; sov finds it on PATH (sandbox.bwrap).
  postInstall = ''
    wrapProgram $out/bin/sov --suffix PATH : ${lib.makeBinPath [ bubblewrap ]}
  '';

  meta = {
    description = "A self-sovereign, local-first, private and secure LLM setup";
    license = with lib.licenses; [ mit asl20 ];
    mainProgram = "sov";
    platforms = [ "x86_64-linux" "aarch64-linux" ];
  };
}
