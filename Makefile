# secateurs: a thin wrapper over meson. Every target first runs `setup`, which installs whatever
# Debian packages are missing (quietly and in well under a second when all are present).
#
#   make              build (release, -O3, native ISA)
#   make test         build, prepare data, run the test suite (fast tests + smoke experiments)
#   make experiments  build, prepare data, run the experiments (PROFILE=smoke|quick|full)
#   make bench        build, prepare data, run the benchmarks (and PyTorch's, when installed)
#   make data         prepare the datasets into $(DATA_DIR)
#   make setup        install missing Debian packages only

BUILD    ?= build
PROFILE  ?= quick
DATA_DIR ?= $(CURDIR)/data/cache
THREADS  ?= 2
export SECATEURS_DATA := $(DATA_DIR)

PACKAGES := build-essential meson ninja-build pkg-config libopenblas-dev libxsimd-dev catch2 \
            dataset-fashion-mnist bible-kjv fortunes

.PHONY: all build setup data test test-slow experiments bench clean

all: build

# dpkg-query lists the requested packages it knows with their status; anything not "ii" is missing.
setup:
	@installed=$$(dpkg-query -W -f='$${Package} $${db:Status-Abbrev}\n' $(PACKAGES) 2>/dev/null | awk '$$2 == "ii" {print $$1}'); \
	missing=; for p in $(PACKAGES); do printf '%s\n' "$$installed" | grep -qx "$$p" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "setup: installing$$missing"; \
	    sudo=; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	    $$sudo apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: setup
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) --buildtype=release
	@meson compile -C $(BUILD)

data: setup
	@data/prepare.sh $(DATA_DIR)

test: build data
	@meson test -C $(BUILD) --suite fast --print-errorlogs

test-slow: build data
	@meson test -C $(BUILD) --suite slow --print-errorlogs

# Runs the suite (finished experiments are skipped, a killed run continues), writes
# runs/$(PROFILE)/report/index.{md,html}; the full profile's report is copied to experiments/results/.
experiments: build data
	$(BUILD)/secateurs experiment all --profile $(PROFILE) --threads $(THREADS) --out runs
	@if [ "$(PROFILE)" = full ]; then rm -rf experiments/results && cp -r runs/full/report experiments/results && \
	    echo "report copied to experiments/results/"; fi

bench: build data
	$(BUILD)/bench --threads $(THREADS)

clean:
	rm -rf $(BUILD)
