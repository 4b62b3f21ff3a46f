#!/usr/bin/env bash
# Remote-step overhead of `runbook run` (v2 section 3), as ratios to baselines measured in the
# same run, never as assertions. It starts its own sshd on a free port of 127.0.0.1 (a generated
# host key, client key and known_hosts, as tests/ssh/ does) and measures:
#
#   floor      N x `ssh -S SOCKET host true` over a master this script opened: what one more
#              session over an existing connection costs at least;
#   remote     a playbook of N chained `true` steps `on` the host, minus the same with 1 step:
#              what runbook adds per remote step (its bootstrap, stdin payload, log, journal);
#   local      the same chain run here, for scale;
#   connect    a 1-step remote playbook minus a 1-step local one (the first connection: the
#              master's handshake and authentication), against `ssh host true` without a master.
#
# Usage: bench/ssh.sh [N]   (default 50; needs sshd, ssh, ssh-keygen, and target/release/runbook,
# built first with `cargo build --release`). Run as root or as the user sshd lets in.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50}
RUNBOOK=${RUNBOOK:-target/release/runbook}
[ -x "$RUNBOOK" ] || { echo "build it first: cargo build --release ($RUNBOOK missing)" >&2; exit 2; }
SSHD=$(command -v sshd || echo /usr/sbin/sshd)
[ -x "$SSHD" ] || { echo "sshd not found: apt-get install openssh-server" >&2; exit 2; }

dir=$(mktemp -d /tmp/runbook-bench-ssh.XXXXXX)
sshd_pid=
master_socket="$dir/m"
cleanup() {
  if [ -S "$master_socket" ]; then ssh -S "$master_socket" -O exit x >/dev/null 2>&1 || true; fi
  if [ -n "$sshd_pid" ]; then kill "$sshd_pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key"
cp "$dir/client_key.pub" "$dir/authorized_keys"
chmod 600 "$dir/authorized_keys"
mkdir -p /run/sshd 2>/dev/null || true
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
MaxSessions 100
EOF
"$SSHD" -D -e -f "$dir/sshd_config" 2>"$dir/sshd.log" &
sshd_pid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_key.pub")" > "$dir/known_hosts"
user=$(id -un)
opts=(-o BatchMode=yes -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$dir/known_hosts"
  -o GlobalKnownHostsFile=/dev/null -i "$dir/client_key" -o IdentitiesOnly=yes -p "$port")

now() { date +%s%N; }
ms() { awk -v n="$1" 'BEGIN { printf "%.1f", n / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# The floor: N sessions over one master.
ssh "${opts[@]}" -M -N -o ControlPersist=no -S "$master_socket" "$user@127.0.0.1" &
for _ in $(seq 200); do [ -S "$master_socket" ] && break; sleep 0.01; done
ssh -S "$master_socket" "${opts[@]}" "$user@127.0.0.1" true # warm-up
t0=$(now)
for _ in $(seq "$N"); do ssh -S "$master_socket" "${opts[@]}" -T "$user@127.0.0.1" true; done
floor=$(( $(now) - t0 ))
ssh -S "$master_socket" -O exit x >/dev/null 2>&1 || true

# One full connection without a master: handshake, authentication, one session.
t0=$(now)
for _ in 1 2 3 4 5; do ssh "${opts[@]}" -T "$user@127.0.0.1" true; done
direct=$(( ($(now) - t0) / 5 ))

playbook() { # NAME STEPS ON
  local file="$dir/$1.toml"
  {
    printf '[playbook]\nname = "%s"\nversion = "1.0.0"\n\n' "$1"
    printf '[hosts.h]\nssh = "%s@127.0.0.1:%s"\nidentity = "%s"\nknown_hosts = "%s"\n' \
      "$user" "$port" "$dir/client_key" "$dir/known_hosts"
    for i in $(seq "$2"); do
      printf '\n[[steps]]\nid = "s%s"\n' "$i"
      [ "$i" -gt 1 ] && printf 'needs = ["s%s"]\n' $((i - 1))
      [ -n "$3" ] && printf 'on = "%s"\n' "$3"
      printf 'run = "true"\n'
    done
  } > "$file"
  echo "$file"
}
run() { # FILE -> ns of the median of 3
  local times=()
  for _ in 1 2 3; do
    local t=$(now)
    RUNBOOK_RUNS="$dir/runs" "$RUNBOOK" run "$1" --json >/dev/null
    times+=($(( $(now) - t )))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 2p
}
remote_n=$(run "$(playbook remote-n "$N" h)")
remote_1=$(run "$(playbook remote-1 1 h)")
local_n=$(run "$(playbook local-n "$N" "")")
local_1=$(run "$(playbook local-1 1 "")")

per_floor=$(( floor / N ))
per_remote=$(( (remote_n - remote_1) / (N - 1) ))
per_local=$(( (local_n - local_1) / (N - 1) ))
connect=$(( remote_1 - local_1 ))
logins=$(grep -c "Accepted publickey" "$dir/sshd.log" || true)
echo "N = $N, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "floor:   ssh -S SOCKET host true           $(ms "$per_floor") ms per session"
echo "remote:  a remote \`true\` step              $(ms "$per_remote") ms per step ($(ratio "$per_remote" "$per_floor")x the floor)"
echo "local:   a local \`true\` step               $(ms "$per_local") ms per step"
echo "connect: first connection of a run         $(ms "$connect") ms (ssh host true without a master: $(ms "$direct") ms)"
echo "sshd logins: $logins (1 floor master + 5 direct + one per run: 12 runs)"
