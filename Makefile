# SPDX-License-Identifier: MIT
#
# The one Makefile of weft. Object lists live in the Kbuild files; every
# rule lives here.
#
#   make			build into build/ (O=dir for elsewhere)
#   make check			build and run the TAP test suite
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
include bench/Kbuild
BENCHES := $(addprefix $(O)/bench/,$(bench-y))
PEERS := $(addprefix $(O)/bench/peers/,$(peer-y))

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

# ---- tests ---------------------------------------------------------------

$(O)/tests/%: tests/%.c $(LIB_A) tests/harness.h tests/kselftest.h
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(LDFLAGS) $< -o $@ $(LIB_A) $(LDLIBS) -lm

.PHONY: tests check
tests: $(TESTS)

check: deps all tests
	$(Q)tools/weft-test-run $(TESTS)

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
bench-build: $(BENCHES) $(PEERS)

demo: deps bench-deps
	$(Q)$(MAKE) --no-print-directory SANITIZE= bench-build
	$(Q)bench/run.sh -r 3 --table $(O)

# ---- dependencies ----------------------------------------------------------

DEPS_BUILD := make gcc libc6-dev liburing-dev libnuma-dev
DEPS_BENCH := g++ golang-go libboost-context-dev libboost-fiber-dev

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

# ---- housekeeping ----------------------------------------------------------

.PHONY: clean
clean:
	rm -rf $(O)

-include $(LIB_OBJS:.o=.d) $(TESTS:=.d)
