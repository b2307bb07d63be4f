# SPDX-License-Identifier: MIT
#
# The one Makefile of weft. Object lists live in the Kbuild files; every
# rule lives here.
#
#   make			build into build/ (O=dir for elsewhere)
#   make check			build and run the TAP test suite
#   make check-arm64		the suite, cross-built, under qemu-aarch64
#   make check-model		the concurrency protocols, model-checked (Spin)
#   make check-docs		man pages: one per exported function, all clean
#   make install		PREFIX=/usr/local DESTDIR= LIBDIR=$(PREFIX)/lib
#   make bench [BENCH=name]	benchmarks against their peers
#   make demo			the README's first command
#   make deps			install (as root) or name what is missing
#   V=1  SANITIZE=address,undefined|thread  CC=clang  WERROR=1

VERSION_MAJOR	:= 0
VERSION_MINOR	:= 1
VERSION_PATCH	:= 0
VERSION		:= $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

O		?= build
CC		?= cc
CXX		?= c++
AR		?= ar
GO		?= go
PREFIX		?= /usr/local

ifeq ($(V),1)
Q :=
quiet = @true
else
Q := @
quiet = @printf '  %-7s %s\n'
endif

# ---- configuration -------------------------------------------------------

MACHINE := $(shell $(CC) -dumpmachine)
ifneq ($(filter x86_64-%,$(MACHINE)),)
CONFIG_X86_64 := y
endif
ifneq ($(filter aarch64-%,$(MACHINE)),)
CONFIG_ARM64 := y
endif

WARN	:= -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes
ifeq ($(WERROR),1)
WARN	+= -Werror
endif
CPPFLAGS += -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 -I. -Iuapi
CFLAGS	?= -O2 -g
CFLAGS	+= -std=gnu11 -fPIC -fvisibility=hidden -pthread $(WARN) -MMD -MP
# What libweft links against; programs linked with libweft.a need it too.
LDLIBS	+= -luring -lnuma

comma := ,
ifneq ($(SANITIZE),)
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
ifneq ($(filter undefined,$(subst $(comma), ,$(SANITIZE))),)
SANFLAGS += -fno-sanitize-recover=undefined
endif
CFLAGS	+= $(SANFLAGS)
LDFLAGS	+= $(SANFLAGS)
endif

# ---- Kbuild object lists -------------------------------------------------

# $(call kbuild,dir/) reads dir/Kbuild: objects join OBJS, dirs recurse.
define kbuild
obj-y :=
include $(1)Kbuild
$$(foreach o,$$(filter-out %/,$$(obj-y)),$$(eval OBJS += $(1)$$(o)))
$$(foreach d,$$(filter %/,$$(obj-y)),$$(eval $$(call kbuild,$(1)$$(d))))
endef
OBJS :=
$(eval $(call kbuild,))

test-y :=
include tests/Kbuild
TESTS := $(addprefix $(O)/tests/,$(test-y))

CONFIG_BOOST := $(if $(wildcard /usr/include/boost/fiber/all.hpp),y)
CONFIG_GO := $(if $(shell command -v $(GO)),y)
bench-y :=
peer-y :=
plain-y :=
include bench/Kbuild
BENCHES := $(addprefix $(O)/bench/,$(bench-y))
PEERS := $(addprefix $(O)/bench/peers/,$(peer-y))
PLAINS := $(addprefix $(O)/bench/,$(plain-y))

LIB_OBJS := $(addprefix $(O)/,$(OBJS))
LIB_A := $(O)/lib/libweft.a
LIB_SO := $(O)/lib/libweft.so.$(VERSION)

# ---- library -------------------------------------------------------------

.PHONY: all
all: $(LIB_A) $(LIB_SO) $(O)/lib/libweft.so

$(O)/%.o: %.c
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(O)/%.o: %.S
	$(quiet) AS $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB_A): $(LIB_OBJS)
	$(quiet) AR $@
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIB_SO): $(LIB_OBJS) weft.map
	$(quiet) LD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,libweft.so.$(VERSION_MAJOR) \
		-Wl,--version-script=weft.map -Wl,-z,defs -Wl,-z,nodelete -o $@ $(LIB_OBJS) $(LDLIBS)

$(O)/lib/libweft.so: $(LIB_SO)
	$(Q)ln -sf libweft.so.$(VERSION) $(O)/lib/libweft.so.$(VERSION_MAJOR)
	$(Q)ln -sf libweft.so.$(VERSION) $@

# ---- weft-run and its preload shim -----------------------------------------

# libweft-preload.so: the shim (tools/preload/Kbuild) plus the library's
# objects compiled again with tools/preload/real.h, which sends weft's own
# libc calls to libc rather than to the shim's interposers. Unfortified:
# the shim defines read() and friends itself.
preload-y :=
include tools/preload/Kbuild
PRELOAD_SHIM := $(addprefix $(O)/tools/preload/,$(preload-y))
PRELOAD_LIB_OBJS := $(addprefix $(O)/preload/,$(OBJS))
PRELOAD_SO := $(O)/lib/libweft-preload.so
WEFT_RUN := $(O)/tools/weft-run
NOFORTIFY := -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=0

WEFT_STAT := $(O)/tools/weft-stat

all: $(PRELOAD_SO) $(WEFT_RUN) $(WEFT_STAT)

$(WEFT_STAT): tools/weft-stat.c sched/stats.h
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $< -o $@

$(O)/preload/%.o: %.c tools/preload/real.h
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(NOFORTIFY) -include tools/preload/real.h \
		$(CFLAGS) -c $< -o $@

$(O)/preload/%.o: %.S
	$(quiet) AS $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(O)/tools/preload/%.o: tools/preload/%.c
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(NOFORTIFY) $(CFLAGS) -fvisibility=default \
		-c $< -o $@

$(PRELOAD_SO): $(PRELOAD_LIB_OBJS) $(PRELOAD_SHIM) tools/preload/preload.map
	$(quiet) LD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -shared \
		-Wl,--version-script=tools/preload/preload.map -Wl,-z,defs \
		-Wl,-z,nodelete -o $@ $(PRELOAD_LIB_OBJS) $(PRELOAD_SHIM) \
		$(LDLIBS) -ldl -lgcc_s

# weft-run finds the shim next to itself (../lib), else in LIBDIR.
$(WEFT_RUN): tools/weft-run.c lib/log.c lib/log.h
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -DWEFT_VERSION='"$(VERSION)"' \
		-DWEFT_LIBDIR='"$(LIBDIR)"' $< lib/log.c -o $@

# ---- tests ---------------------------------------------------------------

$(O)/tests/%: tests/%.c $(LIB_A) tests/harness.h tests/kselftest.h
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(LDFLAGS) $< -o $@ $(LIB_A) $(LDLIBS) -lm

.PHONY: tests check
tests: $(TESTS)

check: deps all tests check-abi
	$(Q)tools/weft-test-run $(TESTS) $(TESTS_SH)

# tests/model/: the park/wake, idle, join and run-queue protocols,
# model-checked with Spin (about a minute). Installs spin when run as root;
# skips without it. Not part of `make check`.
.PHONY: check-model
check-model:
	-$(call apt,spin)
	$(Q)tests/model/run.sh || [ $$? = 4 ]

# A man page for every name weft.map exports, each rendering without a
# groff warning, and every WEFT_* variable in weft.7. Needs no build.
.PHONY: check-docs
check-docs:
	$(call apt,man-db groff-base)
	$(Q)tools/check-docs

# tools/gdb/weft.py in gdb's batch mode, on a live process and on core
# files. Installs gdb when run as root; skips without it.
.PHONY: check-gdb
check-gdb: export WEFT_O := $(O)
check-gdb: $(O)/tests/gdb/gdb_target
	-$(call apt,gdb)
	$(Q)tools/weft-test-run tests/gdb/gdb_test.sh

# tests/preload/: plain pthread programs, no weft in them, built as a user
# would (never linked with libweft, no sanitizers); run.sh runs each natively
# and under weft-run and compares. Not in tests/Kbuild: `make check` runs
# binaries linked with libweft.
PRELOAD_TESTS := $(patsubst %.c,$(O)/%,$(wildcard tests/preload/*.c)) \
	$(patsubst %.cc,$(O)/%,$(wildcard tests/preload/*.cc))

$(O)/tests/preload/%: tests/preload/%.c tests/preload/preload.h
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) -O2 -g -pthread $(WARN) $< -o $@

$(O)/tests/preload/%: tests/preload/%.cc tests/preload/preload.h
	$(quiet) CXX $@
	@mkdir -p $(@D)
	$(Q)$(CXX) -std=gnu++17 -O2 -g -pthread -Wall -Wextra -Wshadow $< -o $@

.PHONY: check-preload
check-preload: all $(PRELOAD_TESTS)
	$(Q)tests/preload/run.sh $(O) || [ $$? = 4 ]

# make soak [DURATION=600]: the randomised tests round after round, each
# with a fresh seed, backend and worker count; the first failure prints
# what replays it (tests/soak.sh).
DURATION ?= 600
.PHONY: soak
soak: all tests
	$(Q)tests/soak.sh $(DURATION) $(O)

# ---- benchmarks ------------------------------------------------------------

$(O)/bench/%: bench/%.c $(LIB_A) $(wildcard bench/*.h)
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $< -o $@ $(LIB_A) $(LDLIBS)

# Peers are built with the peers' own tools, optimised, without sanitizers.
$(O)/bench/peers/%: bench/peers/%.c
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) -O2 -pthread $< -o $@

$(O)/bench/peers/%: bench/peers/%.cc
	$(quiet) CXX $@
	@mkdir -p $(@D)
	$(Q)$(CXX) -O2 -pthread $< -o $@ -lboost_fiber -lboost_context

$(O)/bench/peers/%: bench/peers/%.go
	$(quiet) GO $@
	@mkdir -p $(@D)
	$(Q)GOCACHE=$(abspath $(O))/.gocache GO111MODULE=off $(GO) build -o $@ $<

.PHONY: bench bench-deps demo
bench: bench-deps
	$(Q)$(MAKE) --no-print-directory SANITIZE= bench-build
	$(Q)bench/run.sh $(if $(BENCH),-b $(BENCH)) $(O)

.PHONY: bench-build
bench-build: $(BENCHES) $(PEERS) $(PLAINS)

# Plain programs have no weft in them (tools/weft-run brings it): built as
# a user would, never linked with libweft, without sanitizers.
$(PLAINS): $(O)/bench/%: bench/%.c
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) -O2 -g -pthread $(WARN) $< -o $@

# The headline in a minute: a thread-per-connection server natively and
# under weft-run, and weft's own, at 1000 connections; a table and plots
# (bench/demo.sh). `make bench` runs every benchmark against its peers.
demo: deps all
	-$(call apt,gnuplot-nox)
	$(Q)$(MAKE) --no-print-directory SANITIZE= $(O)/bench/echo_server \
		$(O)/bench/echo_client $(O)/bench/preload_echo_server
	$(Q)bench/demo.sh $(O)

# ---- install ---------------------------------------------------------------

# make install [PREFIX=/usr/local] [DESTDIR=] [LIBDIR=...]: the header, both
# libraries with their links, weft.pc, the man pages and the user tools.
# LIBDIR defaults to $(PREFIX)/lib whatever the distribution; a multiarch
# or lib64 layout passes its own. Nothing here needs root when DESTDIR is set.
BINDIR		?= $(PREFIX)/bin
LIBDIR		?= $(PREFIX)/lib
INCLUDEDIR	?= $(PREFIX)/include
MANDIR		?= $(PREFIX)/share/man
PKGCONFIGDIR	?= $(LIBDIR)/pkgconfig
NM		?= nm

MAN_PAGES := $(wildcard Documentation/man/*.1 Documentation/man/*.3 \
			Documentation/man/*.7)
# Programs for users, installed to $(BINDIR) when they have been built:
# append the path under $(O) and build it from `all`. Developer tools
# (tools/weft-test-run, tools/weft-abi-check) stay out.
TOOLS_INSTALL += $(O)/tools/weft-run $(O)/tools/weft-stat

# weft.pc keeps the real prefix; a staged tree is read with
# PKG_CONFIG_SYSROOT_DIR=$(DESTDIR) (tests/install/install_test.sh does).
# The liburing and numa .pc files are not Requires.private: the build
# finds both on the default paths without pkg-config, weft.h includes
# neither, and a missing numa.pc (older numactl has none) would break even
# `pkg-config --cflags weft`.
pc_dir = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
# Where things land, DESTDIR included.
dest_lib = $(DESTDIR)$(LIBDIR)
dest_man = $(foreach p,$(MAN_PAGES), \
	$(DESTDIR)$(MANDIR)/man$(patsubst .%,%,$(suffix $(p)))/$(notdir $(p)))

$(O)/weft.pc: FORCE
	$(quiet) GEN $@
	@mkdir -p $(@D)
	$(Q)printf '%s\n' \
		'prefix=$(PREFIX)' \
		'libdir=$(call pc_dir,$(LIBDIR))' \
		'includedir=$(call pc_dir,$(INCLUDEDIR))' \
		'' \
		'Name: weft' \
		'Description: kernel-assisted user-space fiber scheduler' \
		'Version: $(VERSION)' \
		'Cflags: -I$${includedir}' \
		'Libs: -L$${libdir} -lweft' \
		'Libs.private: -luring -lnuma -pthread' >$@

.PHONY: install uninstall FORCE
FORCE:

install: all $(O)/weft.pc
	$(quiet) INSTALL "$(DESTDIR)$(INCLUDEDIR)/weft.h"
	$(Q)install -D -m 644 uapi/weft.h $(DESTDIR)$(INCLUDEDIR)/weft.h
	$(quiet) INSTALL "$(dest_lib)/libweft.a"
	$(Q)install -D -m 644 $(LIB_A) $(dest_lib)/libweft.a
	$(quiet) INSTALL "$(dest_lib)/libweft.so.$(VERSION)"
	$(Q)install -D -m 755 $(LIB_SO) $(dest_lib)/libweft.so.$(VERSION)
	$(Q)ln -sf libweft.so.$(VERSION) $(dest_lib)/libweft.so.$(VERSION_MAJOR)
	$(Q)ln -sf libweft.so.$(VERSION) $(dest_lib)/libweft.so
	$(quiet) INSTALL "$(dest_lib)/libweft-preload.so"
	$(Q)install -D -m 755 $(PRELOAD_SO) $(dest_lib)/libweft-preload.so
	$(quiet) INSTALL "$(DESTDIR)$(PKGCONFIGDIR)/weft.pc"
	$(Q)install -D -m 644 $(O)/weft.pc $(DESTDIR)$(PKGCONFIGDIR)/weft.pc
	$(if $(MAN_PAGES),$(quiet) INSTALL \
		"$(DESTDIR)$(MANDIR) ($(words $(MAN_PAGES)) pages)")
	$(Q)for p in $(MAN_PAGES); do \
		install -D -m 644 $$p \
			$(DESTDIR)$(MANDIR)/man$${p##*.}/$${p##*/} || exit; \
	done
	$(Q)for t in $(TOOLS_INSTALL); do \
		[ -e $$t ] || continue; \
		$(if $(Q),printf '  %-7s %s\n' INSTALL $(DESTDIR)$(BINDIR)/$${t##*/};) \
		install -D -m 755 $$t $(DESTDIR)$(BINDIR)/$${t##*/} || exit; \
	done

uninstall:
	$(quiet) RM "weft files under $(DESTDIR)$(PREFIX)"
	$(Q)rm -f $(DESTDIR)$(INCLUDEDIR)/weft.h \
		$(addprefix $(dest_lib)/,libweft.a libweft.so \
			libweft.so.$(VERSION_MAJOR) libweft.so.$(VERSION) \
			libweft-preload.so) \
		$(DESTDIR)$(PKGCONFIGDIR)/weft.pc $(dest_man) \
		$(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(TOOLS_INSTALL)))

# ---- install and ABI checks (make check runs both) --------------------------

# Run by weft-test-run next to the test binaries; they build against what
# `make install` writes, with the compiler and sanitizers of this build.
TESTS_SH := tests/install/install_test.sh tests/tools/tools_test.sh \
	tests/tools/probes_test.sh

check check-install: export WEFT_O := $(O)
check check-install: export WEFT_CC := $(CC)
check check-install: export WEFT_CFLAGS := $(SANFLAGS)

.PHONY: check-install check-abi
check-install: all
	$(Q)tools/weft-test-run $(TESTS_SH)

# The names libweft.so exports, weft.map lists and weft.h marks WEFT_API
# are the same.
check-abi: $(LIB_SO)
	$(quiet) ABI "$(LIB_SO)"
	$(Q)NM='$(NM)' tools/weft-abi-check $(LIB_SO) weft.map uapi/weft.h

# ---- dependencies ----------------------------------------------------------

DEPS_BUILD := make gcc libc6-dev liburing-dev libnuma-dev systemtap-sdt-dev
DEPS_BENCH := g++ golang-go libboost-context-dev libboost-fiber-dev gnuplot-nox

# $(call apt,packages): install what is missing, or say how to.
define apt
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "  APT     $$missing"; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			 apt-get install -y -qq $$missing) >/dev/null || exit 1; \
		else \
			echo "weft: missing packages; run: sudo apt-get install -y $$missing"; \
			exit 1; \
		fi; \
	fi
endef

.PHONY: deps
deps:
	$(call apt,$(DEPS_BUILD))

bench-deps:
	-$(call apt,$(DEPS_BENCH))

# ---- fuzzing and memcheck (issue 7) ----------------------------------------

# make fuzz [FUZZ_TIME=20] [FUZZ_STRICT=1]: the libFuzzer targets of
# tests/fuzz/Kbuild, built with clang, ASan and UBSan into $(FUZZ_O), each
# run FUZZ_TIME seconds from its seeds (tests/fuzz/run.sh). FUZZ_STRICT=1
# also fails on the known bugs tests/fuzz/fuzz.h lists.
fuzz-y :=
include tests/fuzz/Kbuild
FUZZ_O		?= $(O)-fuzz$(if $(filter 1,$(FUZZ_STRICT)),-strict)
FUZZ_CC		?= clang
FUZZ_TIME	?= 20
FUZZ_FLAGS	:= -O1 -g -fsanitize=fuzzer,address,undefined \
		   -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
		   $(if $(filter 1,$(FUZZ_STRICT)),-DFUZZ_STRICT)
FUZZ_SRCS	:= lib/log.c lib/env.c lib/topo.c
FUZZERS		:= $(addprefix $(FUZZ_O)/tests/fuzz/,$(fuzz-y))

$(FUZZ_O)/tests/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(FUZZ_SRCS) \
		lib/env.h lib/log.h lib/topo.h
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(CPPFLAGS) -std=gnu11 -pthread $(WARN) $(FUZZ_FLAGS) \
		$< $(FUZZ_SRCS) -o $@ -lnuma

# weft_run_fuzz compiles tools/weft-run.c in (without its main()).
$(FUZZ_O)/tests/fuzz/weft_run_fuzz: tools/weft-run.c

.PHONY: fuzz fuzz-build fuzz-clean
fuzz-build: $(FUZZERS)

fuzz: fuzz-build
	$(Q)tests/fuzz/run.sh -t $(FUZZ_TIME) $(FUZZERS)

fuzz-clean:
	rm -rf $(O)-fuzz $(O)-fuzz-strict

clean: fuzz-clean

# make check-valgrind: the core tests under Valgrind's memcheck, zero
# reports (tests/valgrind/check.sh: how weft runs there, what is left out
# and why; tests/valgrind/weft.supp). A build without SANITIZE.
VALGRIND_TESTS := $(filter $(O)/tests/core/% $(O)/tests/lib/% \
			   $(O)/tests/sched/sync_test,$(TESTS))

ifneq ($(SANITIZE),)
ifneq ($(filter check-valgrind,$(MAKECMDGOALS)),)
$(error check-valgrind needs a build without SANITIZE)
endif
endif

.PHONY: check-valgrind
check-valgrind: $(VALGRIND_TESTS)
	$(call apt,valgrind)
	$(Q)tests/valgrind/check.sh $(VALGRIND_TESTS)

# ---- aarch64 under qemu-user (issue 6) --------------------------------------

# make check-arm64: cross-build with gcc-aarch64-linux-gnu into $(ARM64_O)
# and run the test suite, and the standalone context-switch check, under
# qemu-aarch64 (tools/weft-test-qemu: the environment weft needs there, and
# the cases qemu-user cannot run, each skipped with its reason). Needs the
# arm64 multiarch libraries (.ci/run) and qemu-user.
ARM64_O		?= build-arm64
ARM64_CROSS	?= aarch64-linux-gnu-
ARM64_SWITCH	:= $(ARM64_O)/tests/arch/switch_aarch64_check

ifeq ($(CONFIG_ARM64),y)
# Standalone (no harness, no libweft): static, so it runs without -L.
$(O)/tests/arch/switch_aarch64_check: tests/arch/switch_aarch64_check.c \
		lib/switch_aarch64.S lib/switch.h
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Ilib -O2 -g -static $(WARN) \
		lib/switch_aarch64.S $< -o $@
endif

.PHONY: check-arm64
check-arm64:
	$(call apt,qemu-user)
	$(Q)$(MAKE) --no-print-directory O=$(ARM64_O) CC=$(ARM64_CROSS)gcc \
		AR=$(ARM64_CROSS)ar SANITIZE= tests $(ARM64_SWITCH)
	$(Q)tools/weft-test-qemu $(addprefix $(ARM64_O)/tests/,$(test-y)) \
		$(ARM64_SWITCH)

# ---- housekeeping ----------------------------------------------------------

.PHONY: clean
clean:
	rm -rf $(O)

-include $(LIB_OBJS:.o=.d) $(TESTS:=.d) $(PRELOAD_LIB_OBJS:.o=.d) \
	$(PRELOAD_SHIM:.o=.d)
