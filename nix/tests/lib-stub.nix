# The few nixpkgs `lib` functions nix/module.nix and nix/package.nix use, written out so that
# Debian's nix-instantiate can evaluate them offline (no nixpkgs checkout). Options evaluate to
# what they were declared with; `mkIf` keeps its condition and content apart so the test sees both.
rec {
  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption = name: mkOption { type = types.bool; default = false; description = "Whether to enable ${name}."; };
  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkDefault = value: value;
  types = {
    bool = "bool";
    str = "str";
    lines = "lines";
    package = "package";
    nullOr = t: "nullOr ${t}";
    listOf = t: "listOf ${t}";
  };
  optionalAttrs = cond: attrs: if cond then attrs else { };
  optionals = cond: list: if cond then list else [ ];
  concatStringsSep = builtins.concatStringsSep;
  splitString = sep: s: builtins.filter builtins.isString (builtins.split sep s);
  last = list: builtins.elemAt list (builtins.length list - 1);
  toInt = s: builtins.fromJSON s;
  makeBinPath = paths: concatStringsSep ":" (map (p: "${p}/bin") paths);
  cleanSource = src: src;
  licenses = { mit = "MIT"; asl20 = "Apache-2.0"; };
}
