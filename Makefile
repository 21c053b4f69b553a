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
# FUZZ=1 (with CC=clang, O=build-fuzz: see `make fuzz`): libFuzzer's coverage on every object.
ifeq ($(FUZZ),1)
SANFLAGS = -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
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
FUZZERS = walker config linetable elfsym
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

# ---- fuzzing (tests/fuzz/README.md) ----
# The harnesses see the test helpers (synthetic images, fake processes).
$(O)/tests/fuzz/%.o: ALL_CFLAGS += -Itests/unit -Itests/fuzz
$(O)/tests/fuzz/%.o: tests/fuzz/fuzz.h
FUZZ_COMMON_OBJ = $(O)/tests/fuzz/check.o $(TESTLIB_OBJ) $(O)/libpyspy.a

# Each harness with replay.c's main(): any compiler, any sanitizer build; replays files.
$(O)/tests/fuzz-%-replay: $(O)/tests/fuzz/fuzz-%.o $(O)/tests/fuzz/replay.o $(FUZZ_COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# Each harness with libFuzzer's main() (FUZZ=1 CC=clang only).
$(O)/fuzz/fuzz-%: $(O)/tests/fuzz/fuzz-%.o $(FUZZ_COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

$(O)/tests/gen-seeds: $(O)/tests/fuzz/gen-seeds.o $(FUZZ_COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

fuzz-replay: $(FUZZERS:%=$(O)/tests/fuzz-%-replay)
fuzzers: $(FUZZERS:%=$(O)/fuzz/fuzz-%)

# The libFuzzer build: clang, ASan+UBSan, coverage.
fuzz-build:
	$(MAKE) O=build-fuzz CC=clang FUZZ=1 WERROR=1 fuzzers

# Runs every fuzzer for FUZZ_TIME seconds (default 10 minutes each), from the seed corpus.
FUZZ_TIME ?= 600
fuzz: deps fuzz-build
	bash tests/fuzz/run.sh --time $(FUZZ_TIME)

# Regenerates the seed corpus (after a change of fuzz.h's input format or of fakeproc.c).
fuzz-seeds: $(O)/tests/gen-seeds
	rm -rf tests/fuzz/corpus/walker tests/fuzz/corpus/linetable tests/fuzz/corpus/config tests/fuzz/corpus/elfsym
	$(O)/tests/gen-seeds tests/fuzz/corpus
	cp etc/pyspy-watch.ini tests/fuzz/corpus/config/pyspy-watch.ini
	cp etc/demo.ini tests/fuzz/corpus/config/demo.ini
	mkdir -p tests/fuzz/corpus/elfsym
	$(CC) -shared -fPIC -Os -nostdlib -Wl,--build-id=none -Wl,-z,noseparate-code -o tests/fuzz/corpus/elfsym/shared.so tests/fuzz/elf-seed.c
	strip -o tests/fuzz/corpus/elfsym/shared-stripped.so tests/fuzz/corpus/elfsym/shared.so

# Installs the Debian packages the build and the tests need, when missing (CI: fresh machine).
deps:
	@bash tests/install-deps.sh

demo: deps
	$(MAKE) all
	bash demo/run.sh

check: deps
	$(MAKE) WERROR=1 all unit-tests
	$(MAKE) O=build-asan SANITIZE=1 WERROR=1 build-asan/pyspy-watch unit-tests fuzz-replay
	$(MAKE) fuzz-build
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
	rm -rf build build-asan build-fuzz pyspy-watch tests/out

.PHONY: all check demo deps install clean unit-tests fuzz fuzz-build fuzz-replay fuzzers fuzz-seeds
.DELETE_ON_ERROR:
# Keep test objects between runs.
.SECONDARY:

# Benchmarks (not part of check): see bench/README.md.
$(O)/bench/%: bench/%.c $(O)/libpyspy.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(O)/libpyspy.a $(LIBS)

bench: $(O)/bench/sample-cost all
.PHONY: bench
