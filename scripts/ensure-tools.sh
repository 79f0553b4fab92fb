#!/bin/sh
# Makes sure the Debian packages recmerge needs are installed: ffmpeg (ffmpeg + ffprobe) and, for the
# test suite, redis-server, chromium (what a player shows), tmux (the progress display on a terminal) and the
# label fonts (fonts-dejavu-core, fonts-wqy-zenhei). FFMPEG_PATH / FFPROBE_PATH, when set, are what recmerge uses: they are checked
# instead of PATH (and a wrong one is reported, not papered over by an install). Installs what is missing
# with apt-get where it can (root, or sudo without a password); otherwise says exactly how to get it and fails.
set -eu
missing=""
check_tool() { # $1 = tool, $2 = the variable that may point at it
  eval "override=\${$2:-}"
  if [ -n "$override" ]; then
    if [ -f "$override" ] && [ -x "$override" ]; then return 0; fi
    echo "ensure-tools: $2=$override is not an executable file; fix or unset it" >&2
    exit 1
  fi
  command -v "$1" >/dev/null 2>&1
}
for pkg in "$@"; do
  case "$pkg" in
    ffmpeg) { check_tool ffmpeg FFMPEG_PATH && check_tool ffprobe FFPROBE_PATH; } || missing="$missing ffmpeg" ;;
    redis-server | chromium | tmux) command -v "$pkg" >/dev/null 2>&1 || missing="$missing $pkg" ;;
    # Fonts have no command: asked of dpkg where there is one (elsewhere they are not checked).
    fonts-*) if command -v dpkg >/dev/null 2>&1 && ! dpkg -s "$pkg" >/dev/null 2>&1; then missing="$missing $pkg"; fi ;;
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
