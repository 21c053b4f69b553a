# SPDX-License-Identifier: MIT
# pyspy-watch: `make` builds ./pyspy-watch; `make check` installs what the tests need, builds,
# and runs every test (unit, live Python, sanitizer build); `make install` honours PREFIX/DESTDIR.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR ?= $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
CATALOGDIR ?= $(shell pkg-config --variable=catalogdir systemd 2>/dev/null || echo /usr/lib/systemd/catalog)
TMPFILESDIR ?= $(shell pkg-config --variable=tmpfilesdir systemd 2>/dev/null || echo /usr/lib/tmpfiles.d)

CC ?= cc
PKGS = libelf libsystemd inih
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral $(if $(WERROR),-Werror)
CFLAGS ?= -O2 -g
ifeq ($(SANITIZE),1)
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE -Isampler -Ireport -Iwatchdog $(WARN) $(PKG_CFLAGS) $(SANFLAGS) $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
LIBS = $(PKG_LIBS) -lm

# Objects go under $(O) so a sanitizer build can live beside the normal one.
O ?= build

SAMPLER_SRC = $(wildcard sampler/*.c)
REPORT_SRC = $(wildcard report/*.c)
WATCHDOG_SRC = $(filter-out watchdog/main.c,$(wildcard watchdog/*.c))
LIB_SRC = $(SAMPLER_SRC) $(REPORT_SRC) $(WATCHDOG_SRC)
LIB_OBJ = $(LIB_SRC:%.c=$(O)/%.o)
UNIT_SRC = $(wildcard tests/unit/test-*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)
TESTLIB_SRC = $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))
TESTLIB_OBJ = $(TESTLIB_SRC:%.c=$(O)/%.o)
HEADERS = $(wildcard sampler/*.h sampler/python/*.h report/*.h watchdog/*.h tests/unit/*.h)

all: pyspy-watch

$(O)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(O)/libpyspy.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(O)/pyspy-watch: $(O)/watchdog/main.o $(O)/libpyspy.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

pyspy-watch: $(O)/pyspy-watch
	cp $< $@

$(O)/tests/%: $(O)/tests/unit/%.o $(TESTLIB_OBJ) $(O)/libpyspy.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

unit-tests: $(UNIT_BIN)

# Installs the Debian packages the build and the tests need, when missing (CI: fresh machine).
deps:
	@bash tests/install-deps.sh

demo: deps
	$(MAKE) all
	bash demo/run.sh

check: deps
	$(MAKE) WERROR=1 all unit-tests
	$(MAKE) O=build-asan SANITIZE=1 WERROR=1 build-asan/pyspy-watch unit-tests
	bash tests/run.sh

$(O)/pyspy-watch.service: etc/pyspy-watch.service.in
	@mkdir -p $(dir $@)
	sed 's|@BINDIR@|$(BINDIR)|g' $< > $@

install: all $(O)/pyspy-watch.service
	install -Dm755 pyspy-watch $(DESTDIR)$(BINDIR)/pyspy-watch
	install -Dm644 man/pyspy-watch.1 $(DESTDIR)$(MANDIR)/man1/pyspy-watch.1
	install -Dm644 $(O)/pyspy-watch.service $(DESTDIR)$(UNITDIR)/pyspy-watch.service
	install -Dm644 etc/pyspy-watch.catalog $(DESTDIR)$(CATALOGDIR)/pyspy-watch.catalog
	install -Dm644 etc/pyspy-watch.tmpfiles $(DESTDIR)$(TMPFILESDIR)/pyspy-watch.conf
	if [ -f man/pyspy-watch.ini.5 ]; then install -Dm644 man/pyspy-watch.ini.5 $(DESTDIR)$(MANDIR)/man5/pyspy-watch.ini.5; fi
	if [ -f etc/pyspy-watch.ini ] && [ ! -e $(DESTDIR)$(SYSCONFDIR)/pyspy-watch.ini ]; then install -Dm600 etc/pyspy-watch.ini $(DESTDIR)$(SYSCONFDIR)/pyspy-watch.ini; fi
	if [ -z "$(DESTDIR)" ]; then journalctl --update-catalog || true; fi

clean:
	rm -rf build build-asan pyspy-watch tests/out

.PHONY: all check demo deps install clean unit-tests
.DELETE_ON_ERROR:
# Keep test objects between runs.
.SECONDARY:

# Benchmarks (not part of check): see bench/README.md.
$(O)/bench/%: bench/%.c $(O)/libpyspy.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(O)/libpyspy.a $(LIBS)

bench: $(O)/bench/sample-cost all
.PHONY: bench
