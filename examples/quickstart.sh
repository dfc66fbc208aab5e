#!/bin/sh
# Quickstart: build gitops-agent, make a deploy repo and an app repo in a temp dir, run one
# pass, and print what the device reported on the monitoring branch. Needs cargo and git
# (git only to create the demo repos; the agent itself carries its own git).
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="$PWD/target/release/gitops-agent"

demo=$(mktemp -d "${TMPDIR:-/tmp}/gitops-agent-demo.XXXXXX")
export GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.invalid
export GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.invalid
g() { git -c init.defaultBranch=main -c advice.detachedHead=false "$@"; }

# The application's code repo: one commit the device must run.
g init -q "$demo/web-src"
echo 'echo "hello from web"' > "$demo/web-src/run.sh"
g -C "$demo/web-src" add run.sh
g -C "$demo/web-src" commit -qm "web v1"
commit=$(g -C "$demo/web-src" rev-parse HEAD)

# The deployment-config repo, as a bare "server" repo.
g init -q --bare "$demo/deploy.git"
g clone -q "$demo/deploy.git" "$demo/deploy-work" 2>/dev/null
mkdir -p "$demo/deploy-work/edge-demo"
echo "GREETING=hi" > "$demo/deploy-work/edge-demo/web.env"
cat > "$demo/deploy-work/edge-demo/infra_meta.toml" <<TOML
[web]
code_url = "file://$demo/web-src"
code_commit_hash = "$commit"
code_local_path = "$demo/srv/web"
config_files = [ { src = "edge-demo/web.env", dst = "$demo/srv/web/.env" } ]
post_updation_command = "sh run.sh"
TOML
g -C "$demo/deploy-work" add -A
g -C "$demo/deploy-work" commit -qm "deploy web"
g -C "$demo/deploy-work" push -q origin HEAD:main

# The device: its agent config and state root.
cat > "$demo/config.toml" <<TOML
infra_name = "edge-demo"
[applications]
web = "file://$demo/deploy.git@main"
TOML
export GITOPS_AGENT_HOME="$demo/home"

echo "== gitops-agent --once"
status=0
"$bin" --config "$demo/config.toml" --once || status=$?
echo "== exit code: $status"
echo "== $demo/srv/web:"
ls -A "$demo/srv/web"
echo "== main-monitoring:edge-demo.toml"
git --git-dir="$demo/deploy.git" show main-monitoring:edge-demo.toml
echo "== demo files kept in $demo"
