# Thin wrapper around CMake so that the README's two commands work.
#   make            build (./build)
#   make check      install deps, build with ASan+UBSan, fuzz 20 s each, run every test
#   make fuzz       libFuzzer targets (clang) for FUZZ_SECONDS each (default 60)
#   make demo       install deps, build, run the live namespace demo
#   make install    install the normal build
BUILD       ?= build
CHECK_BUILD ?= build-check
FUZZ_BUILD  ?= build-fuzz
FUZZ_SECONDS ?= 60
# each fuzzer's share of `make check` (8 targets); `make fuzz` runs longer
CHECK_FUZZ_SECONDS ?= 20
JOBS        ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build check demo deps install clean bench fuzz

all: build

deps:
	@scripts/setup-deps

build:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The fuzzers run first (bounded) so that ctest's summary closes the output.
check: deps
	cmake -S . -B $(CHECK_BUILD) -DCMAKE_BUILD_TYPE=Debug -DALR_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(CHECK_BUILD) -j $(JOBS)
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS)
	cd $(CHECK_BUILD) && ctest --output-on-failure --timeout 600 $(CTEST_FLAGS)

# libFuzzer targets (clang), each run for FUZZ_SECONDS on a copy of its seed
# corpus; `make fuzz FUZZ_SECONDS=3600` for a long run.
fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DALR_FUZZ=ON -DALR_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS) >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	tests/fuzz/run-fuzzers $(FUZZ_BUILD) $(FUZZ_SECONDS)

demo: deps build
	scripts/demo $(BUILD)

bench: deps build
	bench/run $(BUILD)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(CHECK_BUILD) $(FUZZ_BUILD)
