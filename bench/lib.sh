# Shared by bench/run.sh (sourced, not run): the tools, the loopback
# server and the builds they measure.

# Debian packages the benchmark needs; each is installed only when missing.
BENCH_PACKAGES=(hyperfine valgrind nginx-light curl wget busybox-static netcat-openbsd time
    gcc libc6-dev binutils python3 iproute2 procps)

# The environment every measured command gets: what Docker gives a HEALTHCHECK in a small
# image. Fixed, because glibc's start-up scans the environment (~600 instructions a
# variable) for every peer alike, and a developer's shell holds dozens.
BENCH_ENV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    HOSTNAME=healthprobe-bench HOME=/root)

bench_install() {
    local missing=() package
    for package in "${BENCH_PACKAGES[@]}"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    # node is optional: Debian ships it, some images have it from elsewhere.
    if ! command -v node >/dev/null && ! dpkg -s nodejs >/dev/null 2>&1; then
        missing+=(nodejs)
    fi
    ((${#missing[@]})) || return 0
    echo "bench: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Another apt may hold the lock on a shared machine: wait for it rather than fail.
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    if ! apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null; then
        # Retry without nodejs, the one package the benchmark can do without.
        local required=()
        for package in "${missing[@]}"; do
            [[ $package == nodejs ]] || required+=("$package")
        done
        ((${#required[@]} == 0)) || apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
            --no-install-recommends "${required[@]}" >/dev/null
        echo "bench: nodejs is not available here; its row is left out" >&2
    fi
}

# A loopback port that nothing listens on right now.
bench_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts nginx on 127.0.0.1:$2 with its files in $1, and waits until it answers.
# nginx because it is what production health endpoints sit behind, and its cost per
# request is small and steady (one worker, no logging, answers from memory), so the
# figures measure the probes rather than the server. Sets NGINX_PID.
#   /health     200 "ok"
#   /unhealthy  503
#   /redirect   302 to /health (same host and port)
bench_start_nginx() {
    local dir=$1 port=$2
    mkdir -p "$dir/tmp"
    cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
error_log $dir/error.log warn;
pid $dir/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/tmp;
    proxy_temp_path $dir/tmp;
    fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp;
    scgi_temp_path $dir/tmp;
    server {
        listen 127.0.0.1:$port backlog=4096;
        location = /health { default_type text/plain; return 200 "ok\n"; }
        location = /unhealthy { return 503; }
        location = /redirect { return 302 /health; }
    }
}
EOF
    nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" &
    NGINX_PID=$!
    local attempt
    for attempt in $(seq 50); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "bench: nginx did not start on 127.0.0.1:$port (see $dir/error.log)" >&2
    return 1
}

bench_stop_nginx() {
    if [[ -n ${NGINX_PID:-} ]]; then
        kill "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
        NGINX_PID=
    fi
}

# The static release build with its symbol table, for profiles: the same code and layout
# as scripts/build-static.sh gives, before its final strip. Prints its path.
bench_build_symbols() {
    KEEP_SYMBOLS=1 CARGO_TARGET_DIR=target/bench-symbols scripts/build-static.sh
}
