#!/usr/bin/env bash
# Fetches the real versioned corpora of docs/PERFORMANCE.md ("Results: real versioned corpora") into DIR
# (default ./corpora, which .gitignore keeps out of git), from Debian's archive and PyPI only.
#
#   scripts/fetch-corpora.sh [DIR]
#
# What it makes (each version a file; a "one stream" input is the concatenation of a set's versions):
#   source/openssl-3.0.{17,20,22}.tar    release tars of a large C project: Debian's .orig.tar.gz, un-gzipped
#   numpy/numpy-2.1.{0,1,2}-...whl       three consecutive numpy wheels (cp312, manylinux x86_64)
#   scipy/scipy-1.14.{0,1}-...whl        two consecutive scipy wheels
#   libssl3/libssl3_3.0.{17,20,22}*.deb  three consecutive Debian builds of libssl3 (bookworm, -updates, -security)
#   git/git_2.39.5-0+deb12u{2,3}*.deb    two consecutive Debian revisions of git
#   vm/minbase-a.tar, vm/minbase-b.tar   two mmdebstrap --variant=minbase bookworm root filesystems; b adds a few
#                                        packages (a VM image and its next snapshot, as tars)
# replica-bench reads a directory as one stream (its files concatenated in sorted order): `--input DIR` is the
# one-stream case, `--versions DIR/*` the warm one.
# Versions move on in the archive: the script records what it fetched in DIR/MANIFEST (name, size, sha256),
# and a version the archive no longer carries fails loudly rather than being replaced silently.
set -euo pipefail

dir=$(realpath -m "${1:-corpora}")
mkdir -p "$dir"/{source,numpy,scipy,libssl3,git,vm} "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial"

# Source packages come through a private apt configuration, so the system's sources stay untouched.
cat > "$dir/apt/sources.list" <<'EOF'
deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian bookworm-updates main
deb-src http://deb.debian.org/debian-security bookworm-security main
EOF
apt_private=(-o "Dir::Etc::sourcelist=$dir/apt/sources.list" -o Dir::Etc::sourceparts=- \
    -o "Dir::State::Lists=$dir/apt/lists" -o "Dir::Cache=$dir/apt/cache")

echo "== source: openssl release tars"
apt-get "${apt_private[@]}" update -qq
for version in 3.0.17 3.0.20 3.0.22; do
    tar_path="$dir/source/openssl-$version.tar"
    [ -s "$tar_path" ] && continue
    # Only the .orig tarball is needed; the archive sometimes lacks a security upload's .dsc, hence the check.
    (cd "$dir/source" && apt-get "${apt_private[@]}" source --download-only -qq "openssl=$version-1~deb12u2" \
        >/dev/null 2>&1 || true)
    [ -s "$dir/source/openssl_$version.orig.tar.gz" ] || { echo "openssl $version: no .orig.tar.gz" >&2; exit 1; }
    gzip -dc "$dir/source/openssl_$version.orig.tar.gz" > "$tar_path.tmp" && mv "$tar_path.tmp" "$tar_path"
    rm -f "$dir"/source/openssl_"$version"*.{dsc,debian.tar.xz,orig.tar.gz,orig.tar.gz.asc}
done

echo "== wheels: numpy and scipy"
wheel() {
    pip download -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.12 \
        -d "$dir/${1%%==*}" "$1"
}
for spec in numpy==2.1.0 numpy==2.1.1 numpy==2.1.2 scipy==1.14.0 scipy==1.14.1; do wheel "$spec"; done

echo "== debs: libssl3 and git"
# apt-get download writes into the current directory; it warns that _apt cannot write there, which is harmless.
for version in 3.0.17-1~deb12u2 3.0.20-1~deb12u2 3.0.22-1~deb12u2; do
    ls "$dir"/libssl3/libssl3_"$version"_amd64.deb >/dev/null 2>&1 ||
        (cd "$dir/libssl3" && apt-get download -qq "libssl3=$version" 2>/dev/null)
done
for version in 1:2.39.5-0+deb12u2 1:2.39.5-0+deb12u3; do
    ls "$dir"/git/git_*"${version#1:}"_amd64.deb >/dev/null 2>&1 ||
        (cd "$dir/git" && apt-get download -qq "git=$version" 2>/dev/null)
done

echo "== vm: two minbase root filesystems"
if [ ! -s "$dir/vm/minbase-a.tar" ]; then
    mmdebstrap --quiet --format=tar --variant=minbase bookworm "$dir/vm/minbase-a.tar.tmp" && mv "$dir/vm/minbase-a.tar.tmp" "$dir/vm/minbase-a.tar"
fi
if [ ! -s "$dir/vm/minbase-b.tar" ]; then
    mmdebstrap --quiet --format=tar --variant=minbase --include=less,procps,netbase,ca-certificates bookworm \
        "$dir/vm/minbase-b.tar.tmp" && mv "$dir/vm/minbase-b.tar.tmp" "$dir/vm/minbase-b.tar"
fi

(cd "$dir" && find source numpy scipy libssl3 git vm -type f \( -name '*.tar' -o -name '*.whl' -o -name '*.deb' \) | sort |
    while read -r f; do printf '%s %s %s\n' "$f" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -c1-64)"; done) \
    > "$dir/MANIFEST"
cat "$dir/MANIFEST"
