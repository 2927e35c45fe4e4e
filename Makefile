# secateurs: a thin wrapper over meson. Every target first runs `setup`, which installs whatever
# Debian packages are missing (quietly and in well under a second when all are present).
#
#   make              build (release, -O3, native ISA)
#   make test         build, prepare data, run the test suite (fast tests + smoke experiments)
#   make experiments  build, prepare data, run the experiments (PROFILE=smoke|quick|full)
#   make bench        build, prepare data, run the benchmarks (and PyTorch's, when installed)
#   make data         prepare the datasets into $(DATA_DIR)
#   make setup        install missing Debian packages only
#   make test-asan    build with address + undefined-behaviour sanitizers (build-asan), run the fast tests
#   make fuzz         build the libFuzzer targets with clang (build-fuzz), run each for FUZZ_SECONDS

BUILD    ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 300
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.cpp,%,$(wildcard tests/fuzz/fuzz_*.cpp))
PROFILE  ?= quick
DATA_DIR ?= $(CURDIR)/data/cache
THREADS  ?= 2
export SECATEURS_DATA := $(DATA_DIR)

PACKAGES := build-essential meson ninja-build pkg-config libopenblas-dev libxsimd-dev catch2 \
            dataset-fashion-mnist bible-kjv fortunes
FUZZ_PACKAGES := clang libclang-rt-14-dev

.PHONY: all build setup setup-fuzz data test test-slow test-asan fuzz experiments bench clean

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

setup-fuzz: setup
	@$(MAKE) --no-print-directory setup PACKAGES="$(FUZZ_PACKAGES)"

build: setup
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) --buildtype=release
	@meson compile -C $(BUILD)

data: setup
	@data/prepare.sh $(DATA_DIR)

test: build data
	@meson test -C $(BUILD) --suite fast --print-errorlogs

test-slow: build data
	@meson test -C $(BUILD) --suite slow --print-errorlogs

# The same fast suite under AddressSanitizer + UndefinedBehaviorSanitizer (undefined behaviour is
# fatal: UBSAN_OPTIONS is set by meson.build for the test runs).
test-asan: setup data
	@[ -f $(ASAN_BUILD)/build.ninja ] || meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Dbuildtype=debugoptimized
	@meson compile -C $(ASAN_BUILD)
	@meson test -C $(ASAN_BUILD) --suite fast --print-errorlogs

# Each target runs for FUZZ_SECONDS from the committed seeds (tests/fuzz/corpus/<target>, read only)
# plus what earlier runs found ($(FUZZ_BUILD)/corpus/<target>); a crash stops with its reproducer in
# $(FUZZ_BUILD)/crashes/. The executions per target are printed at the end.
fuzz: setup-fuzz
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CXX=clang++ meson setup $(FUZZ_BUILD) -Dfuzz=true \
	    -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized
	@meson compile -C $(FUZZ_BUILD)
	@mkdir -p $(FUZZ_BUILD)/crashes
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s (log: $(FUZZ_BUILD)/fuzz-$$t.log)"; \
	    dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
	    $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -close_fd_mask=1 \
	        -max_len=8192 -rss_limit_mb=4096 -artifact_prefix=$(FUZZ_BUILD)/crashes/$$t- $$dict \
	        $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t > $(FUZZ_BUILD)/fuzz-$$t.log 2>&1 || \
	        { tail -n 40 $(FUZZ_BUILD)/fuzz-$$t.log; echo "fuzz: $$t FAILED"; exit 1; }; \
	done
	@for t in $(FUZZ_TARGETS); do \
	    printf '%-18s %s executions, %s corpus inputs\n' $$t \
	        "$$(awk '/stat::number_of_executed_units/ {print $$2}' $(FUZZ_BUILD)/fuzz-$$t.log)" \
	        "$$(ls $(FUZZ_BUILD)/corpus/$$t | wc -l)"; \
	done

# Runs the suite (finished experiments are skipped, a killed run continues), writes
# runs/$(PROFILE)/report/index.{md,html}; the quick and full reports, with every experiment's
# results.csv, are copied to experiments/results/$(PROFILE)/ (committed, so readers need not run).
experiments: build data
	$(BUILD)/secateurs experiment all --profile $(PROFILE) --threads $(THREADS) --out runs
	@if [ "$(PROFILE)" != smoke ]; then \
	    out=experiments/results/$(PROFILE); rm -rf $$out && mkdir -p $$out/csv && cp -r runs/$(PROFILE)/report/. $$out/ && \
	    for d in runs/$(PROFILE)/*/default; do cp $$d/results.csv $$out/csv/$$(basename $$(dirname $$d)).csv; done && \
	    echo "report copied to $$out/"; fi

bench: build data
	$(BUILD)/bench --threads $(THREADS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
