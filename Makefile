# Two entry points for a fresh Debian machine: `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
APT_PACKAGES := ffmpeg libavformat-dev libavcodec-dev libavutil-dev libswscale-dev pkg-config time mkvtoolnix gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad gstreamer1.0-libav
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build demo test bench fuzz clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	swift build -c release

# The main job end to end on an embedded default: render a composition's chunks, stitch, verify, report.
demo: build
	@bash scripts/demo.sh

test: deps
	swift test

# Mutated chunks through the release helios-stitch: make fuzz [CASES=3000] [SEED=n]. Each case must end in a clean
# error with nothing left, or an output holding exactly the inputs' frames (Tests/HeliosCLITests/StitchFuzzTests.swift).
CASES ?= 3000
SEED ?= $(shell date +%s)
fuzz: build
	swift build --build-tests
	HELIOS_FUZZ_CASES=$(CASES) HELIOS_FUZZ_SEED=$(SEED) HELIOS_STITCH_BINARY=$(CURDIR)/.build/release/helios-stitch \
	  swift test --skip-build --filter StitchFuzzTests

bench: build
	python3 Benchmarks/run.py

clean:
	rm -rf .build Fixtures/.generated Benchmarks/.work
