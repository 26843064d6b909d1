# fnguard. Targets marked (root) install packages, mount bpffs or load BPF.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

CARGO ?= cargo
TARGET := x86_64-unknown-linux-gnu
PAYLOAD := target/$(TARGET)/release/fnguard-payload
FNGUARD := target/release/fnguard
# fnguard-runc runs on every runtime call: linked statically it starts in half the time.
SHIM := target/$(TARGET)/release/fnguard-runc
PREFIX ?= /usr/local
HOOKS_DIR ?= /usr/share/containers/oci/hooks.d

.PHONY: help deps build payload test vmtest unit lint demo bench install

help: ## list targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: ## (root) install packages, mount bpffs/tracefs/cgroup2 if missing
	@scripts/install-deps.sh

build: ## build fnguard and fnguard-runc (release)
	$(CARGO) build --release --workspace --exclude fnguard-payload
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release -p fnguard-shim --target $(TARGET)

payload: ## build the static test payload copied into test bundles
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release -p fnguard-payload --target $(TARGET)

test: deps build payload ## (root) unit and end-to-end tests with real runc, then vmtest
	FNGUARD_PAYLOAD=$(CURDIR)/$(PAYLOAD) $(CARGO) test --release --workspace --exclude fnguard-payload 2>&1 \
	  | tee target/test.log
	scripts/vmtest.sh 2>&1 | tee target/vmtest.log
	@awk '/^test result:/ {p += $$4; f += $$6} /^vmtest: [0-9]+ passed/ {p += $$2; f += $$4} \
	  END {printf "tests: %d passed, %d failed\n", p, f}' target/test.log target/vmtest.log

vmtest: deps build payload ## (root) BPF-LSM enforcement in Debian's 6.1 kernel under qemu
	scripts/vmtest.sh

unit: ## unit tests only, no root needed
	$(CARGO) test --workspace --lib --bins

lint: ## rustfmt and clippy, warnings are errors
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

demo: deps build payload ## (root) run a function container under an egress policy and show what fnguard saw
	@scripts/demo.sh

bench: deps build payload ## (root) hook latency and container start; rewrites BENCHMARKS.md
	@bench/run.sh

install: build ## (root) install fnguard, fnguard-runc and the podman/CRI-O hooks.d file
	install -D -m 0755 $(FNGUARD) $(PREFIX)/bin/fnguard
	install -D -m 0755 $(SHIM) $(PREFIX)/bin/fnguard-runc
	install -D -m 0644 deploy/hooks.d/fnguard.json $(HOOKS_DIR)/fnguard.json
	sed -i 's|/usr/local/bin/fnguard|$(PREFIX)/bin/fnguard|' $(HOOKS_DIR)/fnguard.json
