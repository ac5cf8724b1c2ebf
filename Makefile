# Thin wrapper around CMake so that the README's two commands work.
#   make            build (./build)
#   make check      install deps, build with ASan+UBSan, run every test
#   make demo       install deps, build, run the live namespace demo
#   make install    install the normal build
BUILD       ?= build
CHECK_BUILD ?= build-check
JOBS        ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build check demo deps install clean bench fuzz

all: build

deps:
	@scripts/setup-deps

build:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

check: deps
	cmake -S . -B $(CHECK_BUILD) -DCMAKE_BUILD_TYPE=Debug -DALR_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(CHECK_BUILD) -j $(JOBS)
	cd $(CHECK_BUILD) && ctest --output-on-failure --timeout 600 $(CTEST_FLAGS)

demo: deps build
	scripts/demo $(BUILD)

bench: deps build
	bench/run $(BUILD)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(CHECK_BUILD)
