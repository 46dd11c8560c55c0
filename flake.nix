{
  description = "Sovereign: a self-sovereign, local-first, private and secure LLM setup";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAll (pkgs: rec {
        sovereign = pkgs.callPackage ./nix/package.nix { };
        default = sovereign;
      });
      nixosModules = rec {
        sovereign = { pkgs, ... }: {
          imports = [ ./nix/module.nix ];
          services.sovereign.package = nixpkgs.lib.mkDefault self.packages.${pkgs.system}.sovereign;
        };
        default = sovereign;
      };
    };
}
