#!/usr/bin/env bash
# Extract one program from a Debian package into the virtualenv, without installing the
# package (installing would also create users, unit files and start a system service).
#
#   tools/debian-tool.sh PACKAGE PATH_IN_PACKAGE VENV
#
# The package and those of its library dependencies that are not installed on this
# machine are fetched with `apt-get download` (plus `apt-get update` when run as root
# and the package lists lack them); the program goes to VENV/libexec/PACKAGE/, the
# libraries it needs beside it in lib/, and VENV/bin/NAME is a small wrapper that runs
# it with those libraries. A program already on PATH is linked instead.
set -euo pipefail

package=$1
inside=$2
venv=$3
name=$(basename "$inside")
wrapper="$venv/bin/$name"

if command -v "$name" >/dev/null 2>&1 && [ "$(command -v "$name")" != "$wrapper" ]; then
  ln -sf "$(command -v "$name")" "$wrapper"
  echo "linked $wrapper to $(command -v "$name")"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

download() {
  (cd "$work" && apt-get download "$@" >/dev/null 2>&1)
}

if ! download "$package"; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null
    download "$package"
  else
    echo "$name is needed: apt-get install $package (or put $name on PATH)" >&2
    exit 1
  fi
fi

# Library packages the program needs that this machine lacks (one level, then their own).
missing=()
for dependency in $(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances --no-pre-depends "$package" | sed -n 's/^ *Depends: \([a-z0-9.+-]*\)$/\1/p'); do
  case "$dependency" in lib*) ;; *) continue ;; esac
  if ! dpkg-query -W -f='${Status}' "$dependency" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$dependency")
    for second in $(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances --no-pre-depends "$dependency" | sed -n 's/^ *Depends: \(lib[a-z0-9.+-]*\)$/\1/p'); do
      if ! dpkg-query -W -f='${Status}' "$second" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$second")
      fi
    done
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  download "${missing[@]}"
fi

for deb in "$work"/*.deb; do
  dpkg-deb -x "$deb" "$work/root"
done

home="$venv/libexec/$package"
rm -rf "$home"
mkdir -p "$home/lib"
install -m 0755 "$work/root/$inside" "$home/$name"
find "$work/root" \( -name 'lib*.so*' \) \( -type f -o -type l \) -exec cp -P {} "$home/lib/" \;

cat >"$wrapper" <<WRAPPER
#!/bin/sh
# $name from Debian's $package package, extracted by tools/debian-tool.sh (not installed).
LD_LIBRARY_PATH="$(cd "$home" && pwd)/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$(cd "$home" && pwd)/$name" "\$@"
WRAPPER
chmod 0755 "$wrapper"

if LD_LIBRARY_PATH="$home/lib" ldd "$home/$name" | grep -q "not found"; then
  echo "$name from $package still lacks libraries:" >&2
  LD_LIBRARY_PATH="$home/lib" ldd "$home/$name" | grep "not found" >&2
  exit 1
fi
"$wrapper" -v >/dev/null
echo "installed $wrapper from Debian's $package package"
