# SPDX-License-Identifier: MIT
# Shared by the bench scripts (sourced).  Not a test.

# start_registry DIR: Debian's docker-registry on a random 127.0.0.1 port,
# storing in DIR/reg, logging to DIR/reg.log; sets reg (its pid) and port.
# Fails, with the log, when it does not answer within 5 s.
start_registry() {
	local dir=$1
	port=$((20000 + RANDOM % 20000))
	printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
		"$dir/reg" "$port" >"$dir/reg.yml"
	docker-registry serve "$dir/reg.yml" >"$dir/reg.log" 2>&1 &
	reg=$!
	for _ in $(seq 1 50); do
		curl -s "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "docker-registry did not answer on 127.0.0.1:$port: $(cat "$dir/reg.log")" >&2
	return 1
}
