# raftcron — top-level wrapper around CMake.
#   make          build (build/bin/raftcrond, build/bin/raftcronctl)
#   make test     install deps, build with ASan+UBSan, run every test through ctest, fuzz briefly
#                 (every test must run: one whose prerequisite is missing fails)
#   make run      install deps, build, start a local 3-node cluster with example jobs
#   make fuzz     build the libFuzzer targets with clang and run each (FUZZ_SECONDS, default 60)
#   make bench    build optimised and run the benchmarks
#   make deb      build the Debian package into build-deb/ (raftcron_VERSION_ARCH.deb)
#   make format   clang-format every C source
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
CTEST_ARGS ?=

.PHONY: all build deps test unit fuzz fuzz-build bench run format clean deb

all: build

deps:
	@bash scripts/install-deps

build:
	@command -v cmake >/dev/null || bash scripts/install-deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j $(JOBS)

test: deps fuzz-build
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRC_SANITIZE=ON -DRC_TESTS_COMPLETE=ON \
	  -DRC_FUZZ_BIN=$(CURDIR)/build-fuzz/bin -DRC_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

unit:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRC_SANITIZE=ON >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -L unit

FUZZ_TARGETS := $(notdir $(basename $(wildcard tests/fuzz/fuzz_*.c)))

fuzz-build:
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DRC_FUZZ=ON >/dev/null
	cmake --build build-fuzz -j $(JOBS) --target $(FUZZ_TARGETS)

fuzz: fuzz-build
	bash scripts/run-fuzzers build-fuzz/bin $(FUZZ_SECONDS)

bench:
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DRC_TESTS=OFF >/dev/null
	cmake --build build-bench -j $(JOBS)
	bash scripts/run-benches build-bench/bin

deb: deps
	bash scripts/make-deb build-deb

run: deps build
	bash scripts/run-cluster

format:
	find src include tests bench examples -name '*.[ch]' | xargs clang-format -i

clean:
	rm -rf build build-asan build-fuzz build-bench build-deb
