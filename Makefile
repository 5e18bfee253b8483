# ADD, the Atomic Disk Drive: every entry point of the project.
#
#   make               build everything under build/ (-Wall -Wextra -Werror)
#   make test          every test suite (unit, sanitizer unit, integration,
#                      simulator scenarios, mutants, fuzz smoke); ends with
#                      one "N passed, N failed" line
#   make fuzz FUZZ_SECONDS=N   run each libFuzzer target for N seconds
#   make bench         benchmarks with the machine's own limits beside them
#   make sim           one simulator scenario (SCENARIO=..., SEED=...)
#   make mutants       the simulator against each known-bug build of the core
#   make kmod / kmod-test   the kernel module, and its QEMU test
#   make install       PREFIX=/usr/local DESTDIR=
#   make deps          install the Debian packages the build needs
#
# Layout conventions (so that adding a file needs no Makefile edit):
#   core/*.c                    -> build/libaddcore.a
#   runtime-real/*.c            -> build/libaddreal.a, except *_main.c
#   runtime-real/NAME_main.c    -> build/NAME           (addd, addctl)
#   runtime-sim/*.c             -> build/libaddsim.a,  except *_main.c
#   runtime-sim/NAME_main.c     -> build/NAME           (addsim)
#   tests/unit/test_*.c         -> build/test_*         (Criterion)
#   bench/bench_*.c             -> build/bench_*
#   fuzz/fuzz_*.c               -> build/fuzz_*         (clang, libFuzzer+ASan+UBSan)
#   */module.mk                 extra rules of one area (kmod, scenarios, ...)

BUILD ?= build
CC ?= cc
CLANG ?= clang
PREFIX ?= /usr/local
DESTDIR ?=
# MUTANT=<id> builds the core with one known bug (core/mutants.h).
MUTANT ?= 0
# SAN=1 builds everything with ASan+UBSan (used with BUILD=build/asan).
SAN ?= 0

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wvla -Wformat=2 -Wundef \
	-Wcast-qual -Wwrite-strings -Wimplicit-fallthrough -Wno-missing-field-initializers
OPT ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -Icore -DADD_MUTANT=$(MUTANT)
CFLAGS ?= $(OPT)
CFLAGS += -std=c11 $(WARNINGS) -fno-strict-aliasing -MMD -MP
LDLIBS += -lcrypto -lpthread -lm
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif

CORE_SRC := $(wildcard core/*.c)
REAL_SRC := $(filter-out %_main.c,$(wildcard runtime-real/*.c))
SIM_SRC := $(filter-out %_main.c,$(wildcard runtime-sim/*.c))
REAL_MAINS := $(wildcard runtime-real/*_main.c)
SIM_MAINS := $(wildcard runtime-sim/*_main.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_HELPERS := $(filter-out tests/unit/test_%,$(wildcard tests/unit/*.c))
BENCH_SRC := $(wildcard bench/bench_*.c)
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

CORE_LIB := $(BUILD)/libaddcore.a
REAL_LIB := $(BUILD)/libaddreal.a
SIM_LIB := $(BUILD)/libaddsim.a
PROGRAMS := $(patsubst runtime-real/%_main.c,$(BUILD)/%,$(REAL_MAINS)) \
	$(patsubst runtime-sim/%_main.c,$(BUILD)/%,$(SIM_MAINS))
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/%,$(UNIT_SRC))
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/%,$(BENCH_SRC))
FUZZ_BINS := $(patsubst fuzz/%.c,$(BUILD)/%,$(FUZZ_SRC))


# A fresh machine: say in one line what is missing and how to install it,
# rather than fail on the first #include. Not for the goals that install
# the packages themselves (test, demo, deps) or need none (clean).
ifeq ($(filter-out all install,$(or $(MAKECMDGOALS),all)),)
have_header = $(shell printf '\043include <$(1)>\n' | $(CC) -E -x c - >/dev/null 2>&1 && echo y)
MISSING_DEPS := $(strip \
	$(if $(shell command -v $(CC) 2>/dev/null),,build-essential) \
	$(if $(call have_header,openssl/hmac.h),,libssl-dev) \
	$(if $(call have_header,criterion/criterion.h),,libcriterion-dev))
ifneq ($(MISSING_DEPS),)
$(error missing $(MISSING_DEPS): run 'make deps' (scripts/install-deps.sh), or: sudo apt-get install $(MISSING_DEPS))
endif
endif

.PHONY: all deps test demo unit-test asan-test fuzz fuzz-build bench sim mutants \
	install clean check-core
all: $(PROGRAMS) $(UNIT_BINS) $(BENCH_BINS) check-core

deps:
	@scripts/install-deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(CORE_LIB): $(call obj,$(CORE_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(REAL_LIB): $(call obj,$(REAL_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(SIM_LIB): $(call obj,$(SIM_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/%: $(BUILD)/obj/runtime-real/%_main.o $(REAL_LIB) $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/%: $(BUILD)/obj/runtime-sim/%_main.o $(SIM_LIB) $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Unit tests may use every library (the sim disk, the POSIX disk, ...).
$(BUILD)/test_%: $(BUILD)/obj/tests/unit/test_%.o $(call obj,$(UNIT_HELPERS)) \
		$(SIM_LIB) $(REAL_LIB) $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ -lcriterion $(LDLIBS) -o $@
$(BUILD)/bench_%: $(BUILD)/obj/bench/bench_%.o $(SIM_LIB) $(REAL_LIB) $(CORE_LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Fuzzers: clang, libFuzzer, ASan+UBSan, the core compiled in directly.
FUZZ_CFLAGS := -std=c11 -g -O1 -D_GNU_SOURCE -Icore -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -Wall -Wextra -Werror
$(BUILD)/fuzz_%: fuzz/fuzz_%.c $(CORE_SRC) $(wildcard core/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) $< $(CORE_SRC) -lcrypto -o $@
fuzz-build: $(FUZZ_BINS)
FUZZ_SECONDS ?= 30
fuzz: fuzz-build
	@scripts/run-fuzz.sh $(BUILD) $(FUZZ_SECONDS)

# The core may not reach the OS: checked on every build.
check-core: $(CORE_LIB)
	@scripts/check-core-purity.sh $(CORE_LIB)

unit-test: $(UNIT_BINS)
	@scripts/run-unit-tests.sh $(BUILD)
asan-test:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/asan SAN=1 OPT="-O1 -g" unit-test

# The README's test command: installs what it needs, builds, runs every suite.
test:
	@scripts/install-deps.sh
	@$(MAKE) --no-print-directory all
	@scripts/run-all-tests.sh

# The README's main job: a local 3-process cluster, a workload, a SIGKILL in
# the middle and a restart, and a check that no acknowledged write was lost.
demo:
	@scripts/install-deps.sh
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

bench: all
	@scripts/run-bench.sh $(BUILD)

install: $(PROGRAMS)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	-@test ! -f runtime-real/addd@.service || { install -d $(DESTDIR)$(PREFIX)/lib/systemd/system && \
		sed 's|@PREFIX@|$(PREFIX)|g' runtime-real/addd@.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/addd@.service; }

clean:
	rm -rf $(BUILD)

# Keep objects: they are intermediate files of pattern chains.
.SECONDARY:

-include $(wildcard */module.mk)
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
