# coio front door. CMake is the build system; this file only names the common runs.
# Every build directory lives under build/.
#
#   make / make build   configure + build build/release (RelWithDebInfo, -Werror)
#   make run            build and run examples/countasync
#   make test           deps, then release, ASan+UBSan, ucontext, install-check, TSan,
#                       aarch64-under-qemu and 10 s fuzz runs (plain, TLS)
#   make memcheck       every test case under valgrind except io_uring ones (build/memcheck)
#   make bench          build release and run bench/run.sh (W1-W10 and W8e with every peer, ~45 min)
#   make install        cmake --install into PREFIX (default /usr/local)
#   make install-check  install into build/install-check and build a program against it
#   make deps           check (and, as root, apt-get install) what the build needs
#   make fuzz           run tests/fuzz/run.sh for FUZZ_SECONDS per target (default 60)
#   make clean          rm -rf build

MAKEFLAGS += --no-print-directory

PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_JOBS ?= 2
CMAKE ?= cmake
CTEST ?= ctest
# Extra arguments for every cmake configure, e.g. CMAKE_ARGS=-DCMAKE_C_COMPILER=clang
CMAKE_ARGS ?=
# Extra ctest arguments, e.g. CTEST_ARGS='-R sleep'
CTEST_ARGS ?=
FUZZ_SECONDS ?= 60

# Under CI (CI=true, as .ci/run runs) an io_uring entry that would skip because the
# machine has no usable io_uring fails instead (tests/CMakeLists.txt).
CTEST_ENV = $(if $(filter true,$(CI)),COIO_TEST_REQUIRE_IO_URING=1)
CTEST_RUN = $(CTEST_ENV) $(CTEST) --output-on-failure --no-tests=error -j$(CTEST_JOBS) $(CTEST_ARGS)
VALGRIND = valgrind;--error-exitcode=99;--leak-check=full;--errors-for-leak-kinds=definite;--track-fds=no;-q$(if $(wildcard tests/valgrind.supp),;--suppressions=$(CURDIR)/tests/valgrind.supp)
# Valgrind does not see memory the kernel fills through io_uring's rings (every read
# looks uninitialised), so io_uring cases are left out; so are tests marked novalgrind.
MEMCHECK_CTEST_ARGS ?= -E '^io_uring\.' -LE novalgrind

# Configure (always: cheap, and picks up changed options) and build a tree.
# $(call build_tree,<dir>,<cmake -D options>)
define build_tree
	$(CMAKE) -S . -B $(1) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOIO_WERROR=ON $(2) $(CMAKE_ARGS) >$(1).configure.log 2>&1 \
		|| { cat $(1).configure.log; exit 1; }
	@grep -h '^-- coio ' $(1).configure.log || true
	$(CMAKE) --build $(1) --parallel $(JOBS)
endef

BANNER = @printf '\n==== %s ====\n'

# Stages of `make test` must run in order even under make -j.
.NOTPARALLEL:
.PHONY: all build run deps deps-build test test-release test-asan test-ucontext test-tsan test-cross test-fuzz memcheck \
	bench install install-check fuzz clean

all: build

build:
	@mkdir -p build
	$(call build_tree,build/release,)

# `make run` needs only the build dependencies: it installs them when root, and builds
# without the tests when cmocka is absent.
run: deps-build build
	@test -x build/release/examples/countasync || { echo "no examples/countasync.c yet"; exit 1; }
	build/release/examples/countasync

# ---------------------------------------------------------------------------------------
# Dependencies (Debian/Ubuntu). Quick when nothing is missing: one dpkg -s per package.
# ---------------------------------------------------------------------------------------
# nginx: a real HTTP peer for the fetch tests; the aarch64 cross compiler and qemu-user run
# the aarch64 context switch (tests/cross/run.sh); libclang-rt-dev holds libFuzzer's
# runtime, only a Recommends of clang (which --no-install-recommends skips).
# netbase: /etc/services, which service names in the DNS tests need.
# libssl-dev: TLS (coio_tls_*; without it TLS is left out); openssl: the TLS tests make
# their certificates and run s_server/s_client with it.
BUILD_DEPS_PACKAGES = cmake pkg-config liburing-dev
DEPS_PACKAGES = $(BUILD_DEPS_PACKAGES) libcmocka-dev netbase valgrind gdb python3 netcat-openbsd curl \
	clang libclang-rt-dev \
	nginx gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libssl-dev openssl

# What `make run` and `make install` need: only installs (as root), never fails for a
# missing optional package (without liburing the build is epoll-only).
deps-build:
	@missing=""; \
	for p in $(BUILD_DEPS_PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "deps: installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	else \
		echo "deps: not installed:$$missing (the build goes on without them)"; \
	fi

deps:
	@missing=""; \
	for p in $(DEPS_PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all present"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "deps: installing:$$missing"; \
		apt-get update -qq || exit 1; \
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
				$$missing >/dev/null; then \
			echo "deps: one of them cannot be installed here: trying each alone"; \
			for p in $$missing; do \
				DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
					$$p >/dev/null 2>&1 || echo "deps: could not install $$p: its tests skip"; \
			done; \
		fi; \
		for p in $(BUILD_DEPS_PACKAGES) libcmocka-dev; do \
			dpkg -s $$p >/dev/null 2>&1 || { echo "deps: $$p is required"; exit 1; }; \
		done; \
	else \
		echo "deps: missing:$$missing"; \
		echo "deps: run: sudo apt-get update && sudo apt-get install -y --no-install-recommends$$missing"; \
		command -v cmake >/dev/null || { echo "deps: cmake is required"; exit 1; }; \
		command -v pkg-config >/dev/null || { echo "deps: pkg-config is required"; exit 1; }; \
		pkg-config --exists cmocka || { echo "deps: libcmocka-dev is required"; exit 1; }; \
		echo "deps: continuing without the optional ones"; \
	fi

# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------
test: deps test-release test-asan test-ucontext install-check test-tsan test-cross test-fuzz
	$(BANNER) "all test stages passed"

test-release:
	$(BANNER) "release: build (-Werror) and test, both backends"
	@mkdir -p build
	$(call build_tree,build/release,)
	@# Floors point one way: the only circle is loop<->task (tools/depgraph.py, CONTRIBUTING.md).
	python3 tools/depgraph.py build/release/CMakeFiles/coio_objects.dir/src >/dev/null \
		|| python3 tools/depgraph.py build/release/CMakeFiles/coio_objects.dir/src
	cd build/release && $(CTEST_RUN)

test-asan:
	$(BANNER) "asan: ASan+UBSan build and test"
	@mkdir -p build
	$(call build_tree,build/asan,-DCOIO_SANITIZE=address)
	cd build/asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(CTEST_RUN)

test-ucontext:
	$(BANNER) "ucontext: COIO_CONTEXT=ucontext, every test on epoll"
	@mkdir -p build
	$(call build_tree,build/ucontext,-DCOIO_CONTEXT=ucontext)
	cd build/ucontext && $(CTEST_RUN) -E '^io_uring\.'

# Runs only when some test carries the label tsan (/* coio-test: tsan */).
test-tsan: build
	$(BANNER) "tsan: ThreadSanitizer build, tests labelled tsan"
	@n=$$(cd build/release && $(CTEST) -N -L tsan | sed -n 's/^Total Tests: *//p'); \
	if [ "$${n:-0}" = 0 ]; then echo "no test is labelled tsan: skipped"; exit 0; fi; \
	mkdir -p build; \
	$(CMAKE) -S . -B build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOIO_WERROR=ON \
		-DCOIO_SANITIZE=thread $(CMAKE_ARGS) >build/tsan.configure.log 2>&1 \
		|| { cat build/tsan.configure.log; exit 1; }; \
	$(CMAKE) --build build/tsan --parallel $(JOBS) && \
	cd build/tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 $(CTEST_RUN) -L tsan

# Every case under valgrind: COIO_TEST_WRAPPER puts valgrind in front of each test
# command and multiplies the timeouts by 5. Valgrind's exit code 99 fails the case.
# tests/valgrind.supp, if present, holds suppressions.
memcheck:
	$(BANNER) "memcheck: every test case under valgrind"
	@command -v valgrind >/dev/null || { echo "valgrind is not installed (make deps)"; exit 1; }
	@mkdir -p build
	$(call build_tree,build/memcheck,'-DCOIO_TEST_WRAPPER=$(VALGRIND)')
	cd build/memcheck && $(CTEST_RUN) $(MEMCHECK_CTEST_ARGS)

# ---------------------------------------------------------------------------------------
# Benchmarks, install, fuzzing
# ---------------------------------------------------------------------------------------
bench: build
	@if [ -f bench/run.sh ]; then \
		COIO_BUILD_DIR=$(CURDIR)/build/release bash bench/run.sh; \
	else \
		echo "no bench/run.sh yet: nothing to run"; \
	fi

# Installing builds the library alone (no tests, examples or benchmarks, no -Werror) in
# build/lib. ldconfig refreshes the loader's cache when the prefix is one it searches.
install: deps-build
	@mkdir -p build
	$(CMAKE) -S . -B build/lib -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOIO_WERROR=OFF -DBUILD_TESTING=OFF \
		-DCOIO_BUILD_EXAMPLES=OFF -DCOIO_BUILD_BENCH=OFF $(CMAKE_ARGS) >build/lib.configure.log 2>&1 \
		|| { cat build/lib.configure.log; exit 1; }
	$(CMAKE) --build build/lib --parallel $(JOBS)
	$(CMAKE) --install build/lib --prefix $(PREFIX)
	@case "$(abspath $(PREFIX))" in \
	/usr|/usr/local) [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null && ldconfig || true ;; \
	*) echo "install: $(PREFIX)/lib is not on the loader's path: link with" \
		"-Wl,-rpath,$(abspath $(PREFIX))/lib or set LD_LIBRARY_PATH (README)" ;; \
	esac

install-check: build
	$(BANNER) "install-check: outside programs against an installed coio"
	tests/install/check.sh build/release

# tests/fuzz/run.sh builds the fuzzers itself (clang, libFuzzer, ASan+UBSan) under build/.
# The aarch64 context switch, cross-compiled and run under qemu-user (skipped, exit 77,
# without the cross tools).
test-cross:
	$(BANNER) "cross: aarch64 build under qemu-user"
	@sh tests/cross/run.sh build/cross-aarch64; rc=$$?; [ $$rc = 0 ] || [ $$rc = 77 ]

# Short libFuzzer runs of the stream reader, plain and over TLS; `make fuzz` runs them
# longer.
test-fuzz:
	$(BANNER) "fuzz: stream reader, plain and over TLS, 10 s each"
	sh tests/fuzz/run.sh 10

fuzz:
	@if [ -f tests/fuzz/run.sh ]; then \
		sh tests/fuzz/run.sh $(FUZZ_SECONDS); \
	else \
		echo "no fuzz targets yet"; \
	fi

clean:
	rm -rf build
