# Evaluates nix/module.nix and nix/package.nix against the stubs beside this file; read by
# crates/sov/tests/suite/service.rs with `nix-instantiate --eval --strict --json`.
let
  lib = import ./lib-stub.nix;
  pkgs = {
    formats.toml = { }: {
      type = "toml";
      generate = name: value: "/nix/store/stub-${name}";
    };
    writeText = name: text: "/nix/store/stub-${name}";
    bubblewrap = "/nix/store/stub-bubblewrap";
    callPackage = path: args: "/nix/store/stub-package";
  };
  module = import ../module.nix {
    inherit lib pkgs;
    config.services.sovereign = {
      enable = true;
      package = "/nix/store/stub-sovereign";
      settings = { engine.default_model = "smollm2"; provider.listen = "127.0.0.1:9100"; };
      policy = "[actions]\n";
      user = "sovereign";
      knowledgeSources = [ "/home/alice/notes" ];
      provider.enable = true;
      openFirewall = true;
    };
  };
  package = import ../package.nix {
    inherit lib;
    rustPlatform = { buildRustPackage = attrs: attrs; bindgenHook = "bindgen-hook"; };
    cmake = "cmake";
    pkg-config = "pkg-config";
    bubblewrap = "/nix/store/stub-bubblewrap";
    makeWrapper = "make-wrapper";
    openssl = "openssl";
  };
in
{
  enabled = module.config.condition;
  services = module.config.content.systemd.services;
  firewall = module.config.content.networking.firewall.allowedTCPPorts;
  options = builtins.attrNames module.options.services.sovereign;
  package = {
    inherit (package) pname cargoBuildFlags buildFeatures postInstall;
    rustflags = package.env.CARGO_BUILD_RUSTFLAGS;
  };
}
