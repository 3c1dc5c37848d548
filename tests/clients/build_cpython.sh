#!/usr/bin/env bash
# build_cpython.sh PREFIX: build CPython 3.13 into PREFIX from Debian trixie's python3.13 source package, for a
# machine whose own Pythons are older than Home Assistant needs (>= 3.13.2). The source comes through apt with an
# apt configuration private to the build folder (the machine's sources and lists are left alone), so apt checks
# it against Debian's signed Sources index. Upstream's tarball is built as is (Debian's patches are not applied);
# pip comes from the wheel bundled with the source. About 5-10 minutes on two cores; PREFIX/.complete marks a
# finished build (anything else under PREFIX is removed and rebuilt).
set -euo pipefail
PREFIX=$1
BUILD=$PREFIX.build
rm -rf "$PREFIX" "$BUILD"
mkdir -p "$BUILD"/apt/lists/partial "$BUILD"/apt/archives/partial "$BUILD"/apt/etc/sources.list.d \
         "$BUILD"/apt/etc/preferences.d
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
    >"$BUILD/apt/etc/sources.list"
cat >"$BUILD/apt/apt.conf" <<EOF
APT::Sandbox::User "root";
Dir::State "$BUILD/apt";
Dir::State::Lists "$BUILD/apt/lists";
Dir::Cache "$BUILD/apt";
Dir::Etc::SourceList "$BUILD/apt/etc/sources.list";
Dir::Etc::SourceParts "$BUILD/apt/etc/sources.list.d";
Dir::Etc::Preferences "$BUILD/apt/etc/preferences.d";
EOF
export APT_CONFIG=$BUILD/apt/apt.conf
LOG=$BUILD/build.log
trap 'echo "build_cpython: failed; the end of $LOG:" >&2; tail -n 30 "$LOG" >&2' ERR
cd "$BUILD"
apt-get update -qq >>"$LOG" 2>&1
apt-get source --download-only -qq python3.13 >>"$LOG" 2>&1
tar xf python3.13_*.orig.tar.xz
cd Python-3.13.*
./configure --prefix="$PREFIX" --with-ensurepip=install >>"$LOG" 2>&1
make -j"$(nproc)" >>"$LOG" 2>&1
make install >>"$LOG" 2>&1
"$PREFIX/bin/python3.13" -c 'import ssl, sqlite3, ctypes, lzma, bz2, zlib, uuid, venv, ensurepip'
cd /
rm -rf "$BUILD" "$PREFIX"/lib/python3.13/test "$PREFIX"/lib/python3.13/idlelib "$PREFIX"/lib/python3.13/tkinter
"$PREFIX/bin/python3.13" -c 'import platform; print(platform.python_version())' >"$PREFIX/.complete"
