# oxvirt: `make demo` boots a demo guest on a bare Debian/Ubuntu machine; `make test` runs everything.
# Both install what is missing first (scripts/install-deps.sh).

CARGO ?= cargo
GUEST_DIR ?= target/guest
export OXVIRT_GUEST_DIR := $(abspath $(GUEST_DIR))

.PHONY: all deps bench-deps build release guest demo test test-unit lint bench clean

all: build

deps:
	@scripts/install-deps.sh

# The benchmarks also run libvirtd 9 (private instances) for same-run ratios.
bench-deps:
	@scripts/install-deps.sh --bench

build:
	$(CARGO) build --workspace

release:
	$(CARGO) build --workspace --release

guest: deps
	@if [ -x scripts/guest-image.sh ]; then scripts/guest-image.sh $(GUEST_DIR); fi

demo: deps release guest
	scripts/demo.sh

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Everything: unit, conformance, CLI and end-to-end tests (real QEMU under TCG, real virsh).
test: deps guest
	$(CARGO) build --workspace --all-targets
	$(CARGO) test --workspace --no-fail-fast

bench: bench-deps release guest
	$(CARGO) bench --workspace

clean:
	$(CARGO) clean
