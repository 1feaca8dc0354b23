# Shared by the scripts: install what a fresh Debian 12 machine lacks, and
# build. Sourced, not run.

herd_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Installs the Debian packages named that are not installed yet.
herd_install() {
    local missing=()
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
            --no-install-recommends "${missing[@]}" >/dev/null
}

herd_build_deps=(gcc cmake ninja-build pkg-config libuv1-dev
    libcurl4-openssl-dev libjansson-dev libmicrohttpd-dev zlib1g-dev libssl-dev libsystemd-dev ca-certificates)

# herd_build DIR [cmake args...]: configure (once) and build.
herd_build() {
    local dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        cmake -S "$herd_root" -B "$dir" -G Ninja "$@" >/dev/null || return 1
    fi
    cmake --build "$dir" -- -j"$(nproc)"
}
