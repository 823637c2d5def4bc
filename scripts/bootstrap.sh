#!/usr/bin/env bash
# Installs everything dicomref's demo, tests and benchmarks need on a fresh Debian 12 machine:
# Debian packages (DICOM tools used as real peers and validators) when run as root, and a
# virtual environment in .venv with dicomref and its development tools.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
DEBIAN_PACKAGES=(dicom3tools dcmtk orthanc orthanc-dicomweb iproute2 util-linux openssl postgresql chromium)

if [ "${DICOMREF_SKIP_APT:-0}" != 1 ] && command -v apt-get >/dev/null 2>&1; then
    missing=()
    for p in "${DEBIAN_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ]; then
            echo "bootstrap: installing Debian packages: ${missing[*]}" >&2
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                "${missing[@]}" >/dev/null
        else
            echo "bootstrap: not root, cannot install ${missing[*]}; tests that need them will fail" >&2
        fi
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
"$VENV/bin/python" -m pip install -q -e '.[dev]' 2>&1 | grep -v "is ignored" || true
"$VENV/bin/python" -c "import dicomref" 
touch "$VENV/.installed"
