# oxvirt: `make demo` boots a demo guest on a bare Debian/Ubuntu machine; `make test` runs everything.
# Both install what is missing first (scripts/install-deps.sh).
#
# Test tiers (docs/testing.md): plain `cargo test --workspace` (= `make test-unit`) needs only Rust
# and no privileges; the tests that need root, QEMU, virsh, python3-libvirt, dnsmasq, nft, network
# namespaces, the test guest or libvirt's test corpus (../shared) are ignored there, each with its
# reason, and run when the crates' `e2e` feature is on, as in `make test`.

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

# Formatting (rustfmt.toml), clippy over everything with --all-features (the e2e tier's code is
# linted as it runs), and the library discipline: no unwrap() in library or binary code, every
# unsafe block with its `// SAFETY:` comment.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	$(CARGO) clippy --workspace --lib --bins --all-features -- -D warnings -D clippy::unwrap_used -D clippy::undocumented_unsafe_blocks

# Everything: unit, conformance, CLI and end-to-end tests (real QEMU under TCG, real virsh): the
# e2e tier is on (--all-features: each crate's `e2e` feature).
test: deps guest
	$(CARGO) build --workspace --all-targets --all-features
	$(CARGO) test --workspace --all-features --no-fail-fast

# The tier that needs only Rust, as an unprivileged user; the e2e tests are listed as ignored.
test-unit:
	$(CARGO) test --workspace --no-fail-fast

bench: bench-deps release guest
	$(CARGO) bench --workspace

clean:
	$(CARGO) clean
