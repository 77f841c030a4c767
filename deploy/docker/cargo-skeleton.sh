#!/bin/sh
# cargo-skeleton.sh OUT — run from a Cargo workspace root (the Dockerfiles' planner stage).
#
# Copies every manifest and the lock file into OUT and writes an empty stand-in at the path of
# every target source cargo looks for (src/lib.rs, src/main.rs, src/bin/*.rs, benches/,
# examples/, tests/, build.rs, and any `path = "….rs"` a manifest declares). `cargo build` in
# OUT then compiles exactly the dependencies of the real workspace.
#
# Why: OUT changes only when a manifest or the lock does, so the Docker layer that builds the
# dependencies from it stays cached across source edits, and a source change rebuilds only our
# own crates (Docker's cache keys COPY --from on file content, not on timestamps).
set -eu

out=${1:?usage: cargo-skeleton.sh OUT}
if [ ! -f Cargo.toml ] || [ ! -f Cargo.lock ]; then
    echo "cargo-skeleton: run me from a workspace root (Cargo.toml and Cargo.lock)" >&2
    exit 2
fi

mkdir -p "$out"
cp Cargo.toml Cargo.lock "$out/"

stand_in() {
    # $1: the path of a target source, relative to the workspace root.
    mkdir -p "$out/$(dirname "$1")"
    case "$1" in
        */src/lib.rs) : > "$out/$1" ;;
        *) echo 'fn main() {}' > "$out/$1" ;;
    esac
}

# Build output and hidden folders (.git, .prodstack: a private Docker engine keeps image layers
# there, with manifests of their own) are not the workspace.
find . \( -path ./target -o -path "./$out" -o -name '.?*' \) -prune -o -name Cargo.toml -print | sort |
    while IFS= read -r manifest; do
        dir=$(dirname "$manifest")
        dir=${dir#./}
        [ "$dir" = . ] && continue
        mkdir -p "$out/$dir"
        cp "$manifest" "$out/$dir/Cargo.toml"
        for source in "$dir"/src/lib.rs "$dir"/src/main.rs "$dir"/src/bin/*.rs \
            "$dir"/benches/*.rs "$dir"/examples/*.rs "$dir"/tests/*.rs "$dir"/build.rs; do
            if [ -f "$source" ]; then stand_in "$source"; fi
        done
        sed -n 's/^[[:space:]]*path[[:space:]]*=[[:space:]]*"\([^"]*\.rs\)".*/\1/p' "$manifest" |
            while IFS= read -r declared; do stand_in "$dir/$declared"; done
    done
