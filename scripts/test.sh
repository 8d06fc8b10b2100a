#!/usr/bin/env bash
# The test command: installs what the tests need beyond Swift (once), then runs the suite.
#   scripts/test.sh [extra swift test arguments, e.g. --filter TemplateTests]
# Needs: Debian's apt-get (as root) for missing system packages, and PyPI for the Python venv.
# The venv lives outside the repository: $SWIFTLLAMA_VENV, default ~/.cache/swiftllama/venv.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

apt_packages=()
[ -f /usr/include/zlib.h ] || apt_packages+=(zlib1g-dev)          # llama plot's PNG deflate
command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)   # inspect --html check
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || apt_packages+=(python3-venv)
if [ ${#apt_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "scripts/test.sh: installing ${apt_packages[*]} with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}" >/dev/null
  else
    echo "scripts/test.sh: missing system packages: ${apt_packages[*]} (install them with apt-get as root)" >&2
    exit 1
  fi
fi

venv="${SWIFTLLAMA_VENV:-$HOME/.cache/swiftllama/venv}"
python_packages=(openai Pillow)
if ! "$venv/bin/python" -c 'import openai, PIL' >/dev/null 2>&1; then
  echo "scripts/test.sh: making the test venv $venv (${python_packages[*]} from PyPI)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "${python_packages[@]}"
fi
export SWIFTLLAMA_VENV="$venv"

swift test -c release --disable-testable-imports "$@"
