# services.sovereign: `sov serve` (LLM API, Tool API, console) and optionally `sov provider`, as
# systemd services with the same hardening `sov service install` writes (crates/service's
# HARDENING; crates/sov/tests/suite/service.rs checks that they agree).
#
#   services.sovereign = {
#     enable = true;
#     settings = { engine.default_model = "smollm2"; net.web = "tor"; };
#     knowledgeSources = [ "/home/alice/notes" ];   # readable by the service, nothing else is
#   };
{ config, lib, pkgs, ... }:

let
  cfg = config.services.sovereign;
  inherit (lib) mkOption mkEnableOption mkIf types;
  toml = pkgs.formats.toml { };

  settings = cfg.settings
    // lib.optionalAttrs (cfg.policy != null) {
      gate = (cfg.settings.gate or { }) // { policy_file = "${pkgs.writeText "sovereign-policy.toml" cfg.policy}"; };
    };
  configFile = toml.generate "sovereign-config.toml" settings;

  # Keep in step with HARDENING in crates/service/src/unit.rs (a test compares them).
  hardening = {
    NoNewPrivileges = "yes";
    ProtectSystem = "strict";
    ProtectHome = "read-only";
    PrivateTmp = "yes";
    ProtectKernelTunables = "yes";
    ProtectKernelModules = "yes";
    ProtectKernelLogs = "yes";
    ProtectControlGroups = "yes";
    ProtectClock = "yes";
    ProtectHostname = "yes";
    RestrictRealtime = "yes";
    RestrictSUIDSGID = "yes";
    LockPersonality = "yes";
    RestrictAddressFamilies = "AF_UNIX AF_INET AF_INET6 AF_NETLINK";
    SystemCallArchitectures = "native";
    SystemCallFilter = "~@clock @cpu-emulation @debug @module @obsolete @raw-io @reboot @swap";
    SystemCallErrorNumber = "EPERM";
    UMask = "0077";
  };

  service = description: args: {
    inherit description;
    after = [ "network-online.target" ];
    wants = [ "network-online.target" ];
    wantedBy = [ "multi-user.target" ];
    environment = {
      SOV_CONFIG = "${configFile}";
      SOV_DATA_DIR = "/var/lib/sovereign";
    };
    serviceConfig = hardening // {
      Type = "simple";
      ExecStart = lib.concatStringsSep " " ([ "${cfg.package}/bin/sov" ] ++ args);
      Restart = "on-failure";
      RestartSec = "5";
      User = cfg.user;
      Group = cfg.user;
      StateDirectory = "sovereign";
      StateDirectoryMode = "0700";
      ReadWritePaths = "/var/lib/sovereign";
    } // lib.optionalAttrs (cfg.knowledgeSources != [ ]) {
      BindReadOnlyPaths = lib.concatStringsSep " " cfg.knowledgeSources;
    };
  };
in
{
  options.services.sovereign = {
    enable = mkEnableOption "Sovereign (sov serve: the LLM API, the Tool API and the console)";
    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      description = "The Sovereign package.";
    };
    settings = mkOption {
      type = toml.type;
      default = { };
      description = "The config file, as an attribute set rendered to TOML (see `sov config show`).";
    };
    policy = mkOption {
      type = types.nullOr types.lines;
      default = null;
      description = "The gate's policy file (see `sov policy show`); null keeps the built-in default.";
    };
    user = mkOption {
      type = types.str;
      default = "sovereign";
      description = "The account the services run as.";
    };
    knowledgeSources = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Folders `sov know` indexes, bound read-only into the service (the account must be able to read them).";
    };
    provider.enable = mkEnableOption "`sov provider` (sell access for ZK-API tickets)";
    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the provider's port. The LLM API, Tool API and console stay on loopback whatever this says.";
    };
  };

  config = mkIf cfg.enable {
    users.users.${cfg.user} = {
      isSystemUser = true;
      group = cfg.user;
      home = "/var/lib/sovereign";
    };
    users.groups.${cfg.user} = { };
    environment.systemPackages = [ cfg.package pkgs.bubblewrap ];
    systemd.services = {
      sovereign = service "Sovereign: local LLM API, Tool API and console" [ "serve" ];
    } // lib.optionalAttrs cfg.provider.enable {
      sovereign-provider = service "Sovereign ZK-API provider" [ "provider" ];
    };
    networking.firewall.allowedTCPPorts = lib.optionals (cfg.openFirewall && cfg.provider.enable) [
      (lib.toInt (lib.last (lib.splitString ":" (settings.provider.listen or "127.0.0.1:8090"))))
    ];
  };
}
