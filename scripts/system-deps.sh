#!/usr/bin/env bash
# Debian packages the kit needs: Chromium for the browser test of the lessons
# (driven by Playwright with executable_path=/usr/bin/chromium; never `playwright install`),
# bubblewrap (`bwrap`), the sandbox `layerlab grade` runs learner code in (autograder/README.md), and
# libseccomp2, with which it builds the sandbox's seccomp filter (through PyPI's pyseccomp).
# Everything else (ffmpeg, TTS voice data) comes from PyPI packages.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2 ' || need+=(libseccomp2)
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)  # the PostgreSQL gradebook tests start their own server
if [ ${#need[@]} -eq 0 ]; then
  echo "Debian packages for the tests and the grader's sandbox: all present (chromium, bubblewrap, libseccomp2, fonts-dejavu-core, postgresql)"
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "Layer Lab tests need the Debian packages: ${need[*]} (apt-get install ${need[*]}); run as root or with sudo." >&2
  exit 1
fi
echo "Installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
