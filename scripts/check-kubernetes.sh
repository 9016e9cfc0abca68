#!/usr/bin/env bash
# `make lint` (Kubernetes part): every golden object the controller builds
# (orchestrator/tests/golden/kubernetes/*.json) and every install manifest (deploy/kubernetes/*.yaml)
# is valid against the Kubernetes OpenAPI schemas, strictly (no unknown field), at 1.29 (the
# oldest version Kubernetes mode supports: native sidecars) and at the newest version the
# installed kubernetes-validate knows. Offline: the schemas ship inside the package.
#
# Installs nothing: kubernetes-validate comes from `make deps` (scripts/install-deps.sh, the
# virtualenv beside moto, `THE0_VENV`, default target/venv). Exit 1 on any invalid file or when the
# validator is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=${THE0_VENV:-$root/target/venv}
validate="$venv/bin/kubernetes-validate"
if [ ! -x "$validate" ]; then
  echo "check-kubernetes: $validate is missing; run make deps (scripts/install-deps.sh)" >&2
  exit 1
fi
oldest=1.29
# The newest schema version the package carries, asked from the package itself.
newest=$("$venv/bin/python3" -c 'import kubernetes_validate.utils as u; print(u.major_minor(u.latest_version()))')

files=()
while IFS= read -r f; do files+=("$f"); done < <(
  find orchestrator/tests/golden/kubernetes -name '*.json' -type f
  find deploy/kubernetes -name '*.yaml' -type f
)
files_sorted=()
while IFS= read -r f; do files_sorted+=("$f"); done < <(printf '%s\n' "${files[@]}" | sort)
if [ "${#files_sorted[@]}" -eq 0 ]; then
  echo "check-kubernetes: no files found" >&2
  exit 1
fi

status=0
for v in "$oldest" "$newest"; do
  if ! "$validate" --strict --quiet -k "$v" "${files_sorted[@]}"; then
    status=1
  fi
done
if [ "$status" -eq 0 ]; then
  echo "check-kubernetes: ${#files_sorted[@]} files valid at Kubernetes $oldest and $newest (strict)"
fi
exit "$status"
