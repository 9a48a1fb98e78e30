#!/usr/bin/env bash
# Checks the Docker image without a container engine (make container-test
# builds and runs it with podman where one is installed):
#   1. reads the build and runtime stages' package lists out of the Dockerfile
#      (they live there only), and checks the Dockerfile's COPY lines against
#      .dockerignore's allowlist;
#   2. copies the build stage's COPY sources into a clean directory and runs
#      the build stage's own `make` line there;
#   3. for every shared library `ldd` lists, finds its Debian package
#      (`dpkg -S`) and checks that the runtime stage installs it: named in the
#      runtime list, in Debian's base system (Essential or Priority required,
#      which is what debian:*-slim is made of), or, for libraries the binary
#      does not link directly, a dependency of a named package;
#   4. lints the Dockerfile with dockerfile-utils (npm: tools/ci).
# This machine must run the Debian release the image is built FROM, so that
# the libraries and package names seen here are the image's.
#
# usage: tools/check_image_deps.sh [--binary FILE] [DOCKERFILE [CONTEXT]]
#   exit 0 = all good, 1 = problems (listed), 2 = could not check.
#   --binary FILE checks FILE instead of building one: tests use it to try
#   the dependency rules on edited Dockerfiles without rebuilding each time.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
prebuilt=""
if [ "${1:-}" = "--binary" ]; then
    prebuilt=${2:?--binary needs a file}
    shift 2
fi
dockerfile=${1:-$root/Dockerfile}
context=${2:-$root}
problems=()

say() { printf 'check_image_deps: %s\n' "$*"; }
problem() { problems+=("$*"); printf 'check_image_deps: PROBLEM: %s\n' "$*"; }
die() { printf 'check_image_deps: %s\n' "$*" >&2; exit 2; }

for tool in awk dpkg dpkg-query apt-cache ldd objdump make; do
    command -v "$tool" >/dev/null || die "needs '$tool' (run deploy/install-deps.sh --test)"
done
[ -r "$dockerfile" ] || die "no Dockerfile at $dockerfile"

facts=$(awk -f "$root/tools/dockerfile_parse.awk" "$dockerfile")
field() { awk -F'\t' -v kind="$1" -v stage="$2" '$1 == kind && $2 == stage { print $3 }' <<<"$facts"; }

# ---- 1. the stages and their package lists ----
stages=$(awk -F'\t' '$1 == "from" { print $2 }' <<<"$facts")
build_stage=build
grep -qx "$build_stage" <<<"$stages" || die "the Dockerfile has no stage named '$build_stage' (FROM ... AS build)"
runtime_stage=$(tail -n 1 <<<"$stages")
[ "$runtime_stage" != "$build_stage" ] || die "the last stage (the image) must not be the build stage"
mapfile -t build_pkgs < <(field pkg "$build_stage")
mapfile -t runtime_pkgs < <(field pkg "$runtime_stage")
[ ${#build_pkgs[@]} -gt 0 ] || die "found no 'apt-get install' packages in the build stage"
[ ${#runtime_pkgs[@]} -gt 0 ] || die "found no 'apt-get install' packages in the runtime stage"
say "build stage packages: ${build_pkgs[*]}"
say "runtime stage packages: ${runtime_pkgs[*]}"

# The libraries seen here are the image's only if this is the same release.
image=$(field from "$runtime_stage")
# shellcheck disable=SC1091  # a system file, read at run time
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-unknown}")
case "$image" in
    debian:"$codename"*) ;;
    *) die "the image is built FROM $image but this machine runs Debian '$codename': the check would compare the wrong libraries" ;;
esac
build_image=$(field from "$build_stage")
[ "$build_image" = "$image" ] || problem "the build stage is FROM $build_image but the runtime stage FROM $image: the binary would link libraries of another release"

for p in "${runtime_pkgs[@]}"; do
    case "$p" in
        *-dev | build-essential | gcc* | make | pkg-config)
            problem "the runtime stage installs the build package '$p': it belongs in the build stage only" ;;
    esac
done
known=$(apt-cache show --no-all-versions "${build_pkgs[@]}" "${runtime_pkgs[@]}" 2>/dev/null |
        awk '/^Package:/ { print $2 }' || true)
for p in "${build_pkgs[@]}" "${runtime_pkgs[@]}"; do
    grep -qx "$p" <<<"$known" ||
        problem "'$p' is not a package of this Debian release (apt-cache show found nothing; did apt-get update run?)"
done
# The build below uses this machine's -dev packages, so they must be the
# build stage's: anything missing here would also be missing in the image.
for p in "${build_pkgs[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] ||
        problem "build package '$p' is not installed here (run deploy/install-deps.sh), so this build is not the image's"
done

# The context is .dockerignore's allowlist: every COPY source must be on it.
if [ -r "$context/.dockerignore" ]; then
    while IFS=$'\t' read -r _ _ from srcs; do
        [ "$from" = "-" ] || continue
        read -r -a words <<<"$srcs"
        for src in "${words[@]:0:${#words[@]}-1}"; do
            clean=${src%/}
            grep -Eqx "!${clean}/?" "$context/.dockerignore" ||
                problem "COPY $src: '$clean' is not allowlisted in .dockerignore ('!$clean'), so docker build would not see it"
        done
    done < <(awk -F'\t' -v s="$build_stage" '$1 == "copy" && $2 == s' <<<"$facts")
fi

# ---- 2. build a clean copy the way the build stage does ----
work=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$work" "$log"' EXIT
workdir=$(field workdir "$build_stage" | tail -n 1)
[ -n "$workdir" ] || die "the build stage has no WORKDIR"
build_clean_copy() {
    local from srcs words dest src target make_line
    while IFS=$'\t' read -r _ _ from srcs; do
        [ "$from" = "-" ] || continue
        read -r -a words <<<"$srcs"
        dest=${words[-1]}
        for src in "${words[@]:0:${#words[@]}-1}"; do
            [ -e "$context/$src" ] || { problem "COPY source $src does not exist"; continue; }
            target="$work/$dest"
            mkdir -p "$(dirname "$target")"
            if [ -d "$context/$src" ]; then
                mkdir -p "$target"
                cp -a "$context/$src/." "$target/"
            else
                [[ "$dest" == */ ]] && mkdir -p "$target"
                cp -a "$context/$src" "$target"
            fi
        done
    done < <(awk -F'\t' -v s="$build_stage" '$1 == "copy" && $2 == s' <<<"$facts")
    # Build products a developer left in the copied trees must not leak in.
    find "$work" \( -name '*.o' -o -name '*.d' -o -name '*.a' \) -delete
    make_line=$(field run "$build_stage" | grep -E '(^|[ ;&])make( |$)' | tail -n 1 || true)
    [ -n "$make_line" ] || die "the build stage has no RUN make ... line"
    say "building a clean copy: $make_line"
    # A docker build starts from a clean environment: when this check runs
    # under `make sanitize`, MAKEFLAGS would carry BUILD=build-san into it.
    if ! (cd "$work" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
              -u BUILD -u OPT -u EXTRA_CFLAGS -u EXTRA_LDFLAGS bash -c "$make_line") >"$log" 2>&1; then
        tail -n 40 "$log"
        die "the build stage's make failed in a clean copy (log above)"
    fi
}

if [ -n "$prebuilt" ]; then
    [ -x "$prebuilt" ] || die "--binary $prebuilt is not an executable"
    binary=$prebuilt
    say "checking the given binary $binary (no build)"
else
    build_clean_copy
    # The runtime stage's COPY --from=build sources must exist after the build.
    binary=""
    while IFS=$'\t' read -r _ _ from srcs; do
        [ "$from" = "$build_stage" ] || continue
        read -r -a words <<<"$srcs"
        for src in "${words[@]:0:${#words[@]}-1}"; do
            local_path="$work/${src#"$workdir"/}"
            [ -e "$local_path" ] || problem "COPY --from=$build_stage $src: the build does not produce it"
            [ -f "$local_path" ] && [ -x "$local_path" ] && binary=$local_path
        done
    done < <(awk -F'\t' -v s="$runtime_stage" '$1 == "copy" && $2 == s' <<<"$facts")
    [ -n "$binary" ] || die "the runtime stage copies no executable from the build stage"
fi

# ---- 3. every shared library from a runtime package ----
# Which packages a runtime install brings: the named ones and their
# Depends/Pre-Depends, recursively (what apt-get install pulls in).
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
              --no-replaces --no-enhances "${runtime_pkgs[@]}" 2>/dev/null |
          awk '/^[^ ]/ { print $1 } /(Pre)?Depends:/ { print $2 }' | tr -d '<>' | sed 's/:.*//' | sort -u)
in_list() { local x=$1; shift; local y; for y in "$@"; do [ "$x" = "$y" ] && return 0; done; return 1; }
# The base system every debian image starts with (debootstrap's minbase):
# the Essential and Priority-required packages and what they depend on. Since
# bookworm, libraries such as libc6 are Priority optional and arrive only as
# such dependencies.
mapfile -t base_roots < <(dpkg-query -W -f='${Package} ${Essential} ${Priority}\n' |
                          awk '$2 == "yes" || $3 == "required" { print $1 }')
base=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
           --no-replaces --no-enhances "${base_roots[@]}" 2>/dev/null |
       awk '/^[^ ]/ { print $1 } /(Pre)?Depends:/ { print $2 }' | tr -d '<>' | sed 's/:.*//' | sort -u)
[ -n "$base" ] || die "could not work out Debian's base system (apt-cache depends failed)"
is_base() { grep -qx "$1" <<<"$base"; }
# dpkg knows a file by the path its package shipped; with merged /usr and
# alternatives symlinks, ldd's path can differ, so try the usual spellings.
owner() {
    local path=$1 real candidates c
    real=$(readlink -f "$path")
    candidates=("$path" "$real" "/usr$path" "${path#/usr}" "/usr$real" "${real#/usr}")
    for c in "${candidates[@]}"; do
        dpkg -S "$c" 2>/dev/null | awk -F': ' 'NR == 1 { sub(/:.*/, "", $1); print $1 }' | grep . && return 0
    done
    return 1
}

mapfile -t needed < <(objdump -p "$binary" | awk '$1 == "NEEDED" { print $2 }')
ldd_out=$(ldd "$binary")
if grep -q 'not found' <<<"$ldd_out"; then
    problem "ldd cannot resolve: $(grep 'not found' <<<"$ldd_out" | tr -s ' \t' ' ' | tr '\n' ';')"
fi
checked=0
while read -r soname path; do
    checked=$((checked + 1))
    pkg=$(owner "$path") || { problem "$soname ($path) belongs to no Debian package"; continue; }
    direct=no
    in_list "$soname" "${needed[@]}" && direct=yes
    if in_list "$pkg" "${runtime_pkgs[@]}"; then
        how="listed"
    elif is_base "$pkg"; then
        how="base system"
    elif [ "$direct" = no ] && grep -qx "$pkg" <<<"$closure"; then
        how="dependency of a listed package"
    elif [ "$direct" = yes ]; then
        problem "the binary links $soname directly; its package '$pkg' must be in the runtime stage's apt-get install list"
        continue
    else
        problem "$soname comes from '$pkg', which no runtime package pulls in: add it to the runtime stage"
        continue
    fi
    say "ok  $soname -> $pkg ($how)"
done < <(awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' <<<"$ldd_out")
[ "$checked" -gt 0 ] || problem "ldd listed no shared libraries (a static binary? then this check is wrong)"

# ---- 4. lint the Dockerfile ----
lint="$root/tools/ci/node_modules/.bin/dockerfile-utils"
if [ ! -x "$lint" ]; then
    problem "the Dockerfile linter is not installed: run 'npm ci --prefix tools/ci'"
else
    # Findings are printed with their line; any finding is a failure.
    lint_rc=0
    lint_out=$("$lint" lint "$dockerfile" 2>&1) || lint_rc=$?
    if [ "$lint_rc" -ne 0 ] || grep -q . <<<"$lint_out"; then
        printf '%s\n' "$lint_out"
        problem "dockerfile-utils lint reported the findings above (exit $lint_rc)"
    else
        say "ok  dockerfile-utils lint: no findings"
    fi
fi

if [ ${#problems[@]} -gt 0 ]; then
    printf 'check_image_deps: FAILED, %d problem(s):\n' "${#problems[@]}" >&2
    printf '  - %s\n' "${problems[@]}" >&2
    exit 1
fi
say "OK: $checked shared libraries, all provided by the runtime stage"
