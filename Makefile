# the0 runtime. `make run` runs the example bots; `make test` runs every test against real servers.
.PHONY: all executor orchestrator test-image test lint bench bench-gvisor bench-orchestrator bench-density bench-executor-memory soak run deps clean

all: executor orchestrator

deps:                ## install toolchain target, test servers and peers (Debian + PyPI)
	scripts/install-deps.sh

executor:            ## static, stripped executor -> dist/runtime
	scripts/build-executor.sh

orchestrator:        ## host binary -> dist/orchestrator (THE0_PROFILE=debug for a debug build)
	scripts/build-orchestrator.sh

test-image: executor ## scratch test image the0-test/executor:dev
	scripts/build-test-image.sh

.PHONY: images
images: executor     ## the0/runtime:latest (universal) + slim the0/runtime:<family>; offline bases if no pull; the0/orchestrator:latest
	scripts/build-images.sh
	scripts/build-orchestrator-image.sh

test: deps           ## every test: unit, process, S3 (moto), NATS, Docker
	scripts/test.sh

lint:                ## formatting, lints (workspace lints, MSRV), rustdoc, dependency policy (deny.toml), docs (links, flags in docs/operator.md), Kubernetes objects and manifests against the schemas
	cargo fmt --all -- --check
	scripts/check-msrv.sh
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --quiet
	cargo deny check bans licenses sources
	scripts/check-docs.sh
	scripts/check-kubernetes.sh

.PHONY: test-dashboard
test-dashboard: deps test-image ## the Grafana dashboard's queries against a real Prometheus scraping an orchestrator with bots
	scripts/test-dashboard.sh

.PHONY: fuzz fuzz-ci
fuzz:                ## fuzz every parser 5 min each (FUZZ_SECONDS=…), keeping new corpus inputs
	THE0_INSTALL_FUZZ=1 scripts/install-deps.sh
	scripts/fuzz.sh $${FUZZ_SECONDS:-300} --keep

fuzz-ci:             ## what .ci/run runs: every target replays its committed corpus (FUZZ_SECONDS=10 fuzzes too)
	THE0_INSTALL_FUZZ=1 scripts/install-deps.sh
	scripts/fuzz.sh $${FUZZ_SECONDS:-0}

bench: deps executor ## benchmarks, printed as a table
	scripts/bench.sh

bench-gvisor: deps test-image ## gVisor's price: runsc vs the default runtime (start, executor, :9476, memory)
	scripts/bench-gvisor.sh

bench-orchestrator: deps test-image ## orchestrator: converge 200 bots vs xargs -P8 docker run, RSS/CPU, latencies
	scripts/bench-orchestrator.sh
bench-executor-memory: deps test-image ## executor in a container, active bot, 10 min (BENCH_MEMORY_SEC): RSS/anonymous vs tini
	scripts/bench-executor-memory.sh

bench-density: deps test-image ## density: N active bots (BENCH_BOTS=200) vs xargs, executor and shim PSS per bot, host memory per bot
	BENCH_DENSITY=1 scripts/bench-orchestrator.sh

soak: test-image     ## kill -9 during convergence of 50 bots, SOAK_REPS times (20)
	THE0_TEST_IMAGE=$${THE0_TEST_IMAGE:-the0-test/executor:dev} scripts/soak.sh

run:                ## build what is needed, start the orchestrator, deploy examples/ (make stop ends it)
	scripts/run.sh

.PHONY: screenshots
screenshots:         ## docs/images/ui.png and ui-bot.png: the status page (/ui) in headless Chromium, from the examples/ bots
	cargo build --locked -p the0-orchestrator --bin orchestrator
	scripts/test-ui.sh screenshots

.PHONY: stop examples run-sample
stop:                ## stop make run's orchestrator and its bots
	scripts/run.sh stop

examples:            ## compile the compiled examples in a build container (no pulls)
	scripts/build-examples.sh

run-sample: deps executor ## one bot under the executor alone, no orchestrator, no Docker (Ctrl-C stops it)
	scripts/run-sample.sh

clean:
	rm -rf dist target/test-services
