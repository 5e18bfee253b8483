# The kernel module and its QEMU test (included by the top-level Makefile).
#
#   make kmod        build/kmod/atdd.ko against the installed linux-headers
#                    (KVER: the newest kernel with both /boot/vmlinuz-KVER and
#                    /lib/modules/KVER/build; the host's own kernel is not used)
#   make kmod-test   boot that kernel in QEMU with the module, ADD processes
#                    and a test script (kmod/test/run.sh); ends "N passed, N failed"
#
# The module is built in a copy of kmod/ under build/ so that the source tree
# stays free of Kbuild's output.

KVER ?= $(shell for v in $$(ls /lib/modules 2>/dev/null | sort -V); do \
	[ -e /boot/vmlinuz-$$v ] && [ -e /lib/modules/$$v/build/Makefile ] && echo $$v; done | tail -n 1)
KDIR ?= /lib/modules/$(KVER)/build
KMOD_OUT := $(BUILD)/kmod
KMOD_SRC := $(wildcard kmod/*.c kmod/*.h) kmod/Kbuild core/wire_constants.h
# Static programs for the guest's initramfs, built apart from the normal build.
STATIC_BUILD := $(BUILD)/static

.PHONY: kmod kmod-test kmod-test-progs kmod-checkpatch
kmod: $(KMOD_OUT)/atdd.ko

$(KMOD_OUT)/atdd.ko: $(KMOD_SRC)
	@test -n "$(KVER)" || { echo "kmod: no kernel with headers (scripts/install-deps.sh --kmod)" >&2; exit 1; }
	@mkdir -p $(KMOD_OUT)/src
	cp kmod/*.c kmod/*.h kmod/Kbuild $(KMOD_OUT)/src/
	env -u CFLAGS -u CPPFLAGS -u LDFLAGS $(MAKE) --no-print-directory -C $(KDIR) \
		M=$(abspath $(KMOD_OUT)/src) ADD_CORE=$(abspath core) modules
	cp $(KMOD_OUT)/src/atdd.ko $@

# The test server: a single in-memory ADD process, or a garbage server.
$(KMOD_OUT)/atdd_testsrv: kmod/test/atdd_testsrv.c core/wire_constants.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -static $< -o $@ -lcrypto -lpthread

kmod-test-progs: $(KMOD_OUT)/atdd_testsrv

kmod-test: kmod kmod-test-progs
	@KVER=$(KVER) BUILD=$(BUILD) kmod/test/run.sh

# Kernel style: CHECKPATCH=path/to/checkpatch.pl, or the one in Debian's
# linux-source-6.1 tarball (apt-get install linux-source-6.1; not a CI need).
CHECKPATCH ?= $(firstword $(wildcard /usr/src/linux-headers-$(KVER)/scripts/checkpatch.pl \
	$(KMOD_OUT)/checkpatch/scripts/checkpatch.pl))
kmod-checkpatch:
	@if [ -z "$(CHECKPATCH)" ]; then \
		src=$$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | tail -n 1); \
		test -n "$$src" || { echo "no checkpatch.pl: install linux-source-6.1 or set CHECKPATCH" >&2; exit 1; }; \
		mkdir -p $(KMOD_OUT)/checkpatch && tar -xJf $$src -C $(KMOD_OUT)/checkpatch --strip-components=1 \
			--wildcards '*/scripts/checkpatch.pl' '*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch'; \
		$(MAKE) --no-print-directory kmod-checkpatch CHECKPATCH=$(KMOD_OUT)/checkpatch/scripts/checkpatch.pl; \
	else \
		perl $(CHECKPATCH) --no-tree --strict --file kmod/atdd.h kmod/atdd_main.c kmod/atdd_conn.c; \
	fi
