#!/bin/sh
# Makes sure the Debian packages recmerge needs are installed: ffmpeg (ffmpeg + ffprobe) and, for the
# test suite, redis-server. Installs them with apt-get where it can (root, or sudo without a password);
# otherwise says exactly how to get them and fails.
set -eu
missing=""
for pkg in "$@"; do
  case "$pkg" in
    ffmpeg) command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing="$missing ffmpeg" ;;
    redis-server) command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server" ;;
    *) echo "ensure-tools: unknown package $pkg" >&2; exit 2 ;;
  esac
done
[ -z "$missing" ] && exit 0

if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo"; else sudo="none"; fi
  if [ "$sudo" != none ]; then
    echo "Installing$missing from Debian/Ubuntu packages..." >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # shellcheck disable=SC2086
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    exit 0
  fi
  echo "Missing:$missing. Install with: sudo apt-get install$missing" >&2
else
  echo "Missing:$missing. Install ffmpeg (macOS: brew install ffmpeg$( [ "${missing#*redis}" != "$missing" ] && echo ' redis'); Windows: winget install ffmpeg)," >&2
  echo "or set FFMPEG_PATH and FFPROBE_PATH to the binaries." >&2
fi
exit 1
