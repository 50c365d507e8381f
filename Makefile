# SPDX-License-Identifier: Apache-2.0
# Sluice build. Layout (see docs/architecture.md):
#   bpf/*.bpf.c          -> build/bpf/*.o + build/include/*.skel.h  (clang -> bpftool gen object/skeleton)
#   user/lib/*.c         -> build/libsluice.a      (policy front-end, compiler, map I/O)
#   user/sluiced/*.c     -> build/sluiced
#   user/sluicectl/*.c   -> build/sluicectl
#   user/http/*.c        -> build/sluice-http      (+ llhttp compiled in from /usr/share/llhttp)
#   tests/unit/test_*.c  -> build/tests/unit/*     (cmocka, built with ASan+UBSan)
#   tests/bpf/test_*.c   -> build/tests/bpf/*      (BPF_PROG_TEST_RUN fixtures)
#   tests/fuzz/fuzz_*.c  -> build/fuzz/*           (libFuzzer, `make fuzz`)
#   tools/*.c            -> build/connbench, build/http-backend, build/tools/xdp_tool
#                           (drivers shared by tests, bench/ and `make demo`)
# In every binary directory main.c holds main(); the other files are also linked into tests.
# Quiet by default; V=1 shows the commands.

.DELETE_ON_ERROR:
.SUFFIXES:

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

B        := build
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

WARN     := -Wall -Wextra -Werror -Wshadow -Wimplicit-fallthrough
CFLAGS   ?= -O2 -g
# llhttp in strict mode everywhere it is compiled or its header is read:
# without it llhttp takes any two bytes after chunk data as CRLF (request
# smuggling); tests/unit/test_http_strict_parser.c proves the build is strict.
LLHTTP_DEFS := -I/usr/share/include/llhttp -DLLHTTP_STRICT_MODE=1
CPPFLAGS := -Iinclude -Iuser -I$(B)/include $(LLHTTP_DEFS) -D_GNU_SOURCE
USER_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -MMD -MP
LDLIBS   := -lbpf -lelf -lz -lyaml -lpcre2-8 -lcares -lcurl -ljson-c -lnghttp2 -lssl -lcrypto -lpthread
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# ---- sources ---------------------------------------------------------------
BPF_SRCS      := $(wildcard bpf/*.bpf.c)
BPF_OBJS      := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.o,$(BPF_SRCS))
SKELS         := $(patsubst bpf/%.bpf.c,$(B)/include/%.skel.h,$(BPF_SRCS))

LIB_SRCS      := $(wildcard user/lib/*.c)
SLUICED_SRCS  := $(wildcard user/sluiced/*.c)
CTL_SRCS      := $(wildcard user/sluicectl/*.c)
HTTP_SRCS     := $(wildcard user/http/*.c)
LLHTTP_SRCS   := $(wildcard /usr/share/llhttp/*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
san = $(patsubst %.c,$(B)/san/%.o,$(1))

LIB_OBJS      := $(call obj,$(LIB_SRCS))
LLHTTP_OBJS   := $(patsubst /usr/share/llhttp/%.c,$(B)/obj/llhttp/%.o,$(LLHTTP_SRCS))
LLHTTP_SAN    := $(patsubst /usr/share/llhttp/%.c,$(B)/san/llhttp/%.o,$(LLHTTP_SRCS))

# Everything but the main.c files, built with sanitizers, for unit tests.
TESTABLE_SRCS := $(LIB_SRCS) $(filter-out %/main.c,$(HTTP_SRCS) $(SLUICED_SRCS) $(CTL_SRCS))
SAN_OBJS      := $(call san,$(TESTABLE_SRCS))
# Fuzzers link sources directly (no archive), so only the libraries whose
# symbols are all defined outside main.c: user/lib and sluice-http.
FUZZ_LINK_SRCS := $(LIB_SRCS) $(filter-out %/main.c,$(HTTP_SRCS))

UNIT_SRCS     := $(wildcard tests/unit/test_*.c)
UNIT_BINS     := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRCS))
BPFT_SRCS     := $(wildcard tests/bpf/test_*.c)
BPFT_BINS     := $(patsubst tests/bpf/%.c,$(B)/tests/bpf/%,$(BPFT_SRCS))
FUZZ_SRCS     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS     := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRCS))

BINS := $(B)/sluiced $(B)/sluicectl $(B)/sluice-http

.PHONY: all deps test unit demo bench fuzz clean bpf tests-build
all: $(BPF_OBJS) $(BINS)

deps:
	$(Q)scripts/deps.sh

bpf: $(BPF_OBJS) $(SKELS)

# ---- BPF: clang -> bpftool gen object -> skeleton ----------------------------
$(B)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/lib/*.h) $(wildcard include/sluice/*.h)
	$(call msg,CLANG,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Iinclude -Ibpf \
		-idirafter /usr/include/$(shell uname -m)-linux-gnu \
		-Wall -Werror -Wno-unused-function -c $< -o $@

$(B)/bpf/%.o: $(B)/bpf/%.bpf.o
	$(call msg,GEN-OBJ,$@)
	$(Q)$(BPFTOOL) gen object $@ $<

$(B)/include/%.skel.h: $(B)/bpf/%.o
	$(call msg,GEN-SKEL,$@)
	@mkdir -p $(@D)
	$(Q)$(BPFTOOL) gen skeleton $< name sluice_$(subst -,_,$*) > $@

# ---- userspace -------------------------------------------------------------
$(B)/obj/%.o: %.c | $(SKELS)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(USER_CFLAGS) -c $< -o $@

$(B)/san/%.o: %.c | $(SKELS)
	$(call msg,CC-SAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(USER_CFLAGS) $(SANFLAGS) -c $< -o $@

# llhttp is third-party generated C: its own warning level, no -Werror.
$(B)/obj/llhttp/%.o: /usr/share/llhttp/%.c Makefile
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -O2 -g $(LLHTTP_DEFS) -c $< -o $@
$(B)/san/llhttp/%.o: /usr/share/llhttp/%.c Makefile
	$(call msg,CC-SAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -O1 -g $(SANFLAGS) $(LLHTTP_DEFS) -c $< -o $@

$(B)/libsluice.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/libsluice-san.a: $(SAN_OBJS) $(LLHTTP_SAN)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/sluiced: $(call obj,$(SLUICED_SRCS)) $(B)/libsluice.a $(LLHTTP_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/sluicectl: $(call obj,$(CTL_SRCS)) $(B)/libsluice.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/sluice-http: $(call obj,$(HTTP_SRCS)) $(LLHTTP_OBJS) $(B)/libsluice.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# ---- tests -----------------------------------------------------------------
$(B)/tests/unit/%: tests/unit/%.c $(B)/libsluice-san.a
	$(call msg,CC-TEST,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Itests $(USER_CFLAGS) $(SANFLAGS) -o $@ $< $(B)/libsluice-san.a $(LDLIBS) -lcmocka

$(B)/tests/bpf/%: tests/bpf/%.c $(B)/libsluice.a $(SKELS)
	$(call msg,CC-TEST,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Itests $(USER_CFLAGS) -o $@ $< $(B)/libsluice.a $(LDLIBS) -lcmocka

$(B)/fuzz/%: tests/fuzz/%.c $(FUZZ_LINK_SRCS) $(LLHTTP_SRCS)
	$(call msg,FUZZ,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(CPPFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ $< \
		$(FUZZ_LINK_SRCS) $(LLHTTP_SRCS) $(LDLIBS)

tests-build: all $(UNIT_BINS) $(BPFT_BINS)

# `make test`: deps if missing, build, run everything; last line "N passed, N failed".
test:
	$(Q)scripts/deps.sh
	$(Q)$(MAKE) --no-print-directory tests-build
	$(Q)scripts/run-tests.sh

unit:
	$(Q)$(MAKE) --no-print-directory tests-build
	$(Q)scripts/run-tests.sh unit

# FUZZ_SECONDS per target (default 60); corpus under tests/fuzz/corpus/<target>/;
# crash/leak inputs are written to build/fuzz/<target>-crash-*.
FUZZ_SECONDS ?= 60
fuzz: $(FUZZ_BINS)
	$(Q)for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p $(B)/fuzz/corpus-$$n; \
		echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(B)/fuzz/$$n- \
			$(B)/fuzz/corpus-$$n tests/fuzz/corpus/$$n || exit 1; done

demo:
	$(Q)scripts/deps.sh
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh

bench:
	$(Q)scripts/deps.sh
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bench/run.sh

clean:
	rm -rf $(B)

# ---- tools/: drivers the tests, the benchmarks and the demo share ---------
# connbench: TCP echo backend + connection load generator (tools/node.sh,
# `make demo`, bench/bench_l4.sh)
$(B)/connbench: tools/connbench.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -o $@ $< -lpthread
all: $(B)/connbench
tests-build: $(B)/connbench

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# ---- sluice-http benchmark/test backend (tools/http_backend.c, llhttp) ------
$(B)/http-backend: tools/http_backend.c $(LLHTTP_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CPPFLAGS) $(USER_CFLAGS) -o $@ $^

# sluice-http's fuzz targets link only the library and the helper's modules
# (the generic rule also pulls in sluiced's modules, whose helpers live in
# sluiced's main.c): the request path (fuzz_http), the differential target
# (fuzz_http_frame: what sluice-http forwards parses as what it parsed) and
# HTTP/2 from clients (fuzz_h2).
HTTP_FUZZ := $(B)/fuzz/fuzz_http $(B)/fuzz/fuzz_http_frame $(B)/fuzz/fuzz_h2
$(HTTP_FUZZ): $(B)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(filter-out %/main.c,$(HTTP_SRCS)) $(LLHTTP_SRCS)
	$(call msg,FUZZ,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(CPPFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ $< \
		$(LIB_SRCS) $(filter-out %/main.c,$(HTTP_SRCS)) $(LLHTTP_SRCS) $(LDLIBS) -lm

tests-build: $(B)/http-backend

# the TLS passthrough ClientHello parser alone (user/http/clienthello.c)
$(B)/fuzz/fuzz_clienthello: tests/fuzz/fuzz_clienthello.c user/http/clienthello.c
	$(call msg,FUZZ,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(CPPFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ $^

# ---- north-south: tools/xdp_tool drives XDP/TC for the e2e tests and
# bench/bench_xdp.sh; xdp_baseline is the parse-only XDP program the
# benchmark compares against.
$(B)/tools/xdp_tool: tools/xdp_tool.c $(B)/libsluice.a $(SKELS)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(USER_CFLAGS) -o $@ $< $(B)/libsluice.a $(LDLIBS)
$(B)/bench/xdp_baseline.o: bench/xdp_baseline.bpf.c $(wildcard bpf/lib/*.h)
	$(call msg,CLANG,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Iinclude -Ibpf \
		-idirafter /usr/include/$(shell uname -m)-linux-gnu -Wall -Werror -c $< -o $@
tests-build: $(B)/tools/xdp_tool
bench-xdp: $(B)/tools/xdp_tool $(B)/bench/xdp_baseline.o
.PHONY: bench-xdp

# ---- install: PREFIX (default /usr/local) and DESTDIR ------------------------
PREFIX  ?= /usr/local
BINDIR  := $(PREFIX)/bin
DOCDIR  := $(PREFIX)/share/doc/sluice
MANDIR  := $(PREFIX)/share/man/man8
COMPDIR := $(PREFIX)/share/bash-completion/completions
UNITDIR := $(PREFIX)/lib/systemd/system
.PHONY: install
install: $(BINS)
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(MANDIR) \
		$(DESTDIR)$(COMPDIR) $(DESTDIR)$(UNITDIR)
	$(Q)install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/
	$(Q)sed -e 's|/usr/local/bin|$(BINDIR)|g' -e 's|/usr/local/share/doc/sluice|$(DOCDIR)|g' \
		deploy/sluiced.service >$(DESTDIR)$(UNITDIR)/sluiced.service
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/sluiced.service
	$(Q)$(B)/sluicectl completion bash >$(DESTDIR)$(COMPDIR)/sluicectl
	$(Q)scripts/gen-man.sh $(B)/sluiced 8 "the Sluice node agent" >$(DESTDIR)$(MANDIR)/sluiced.8
	$(Q)scripts/gen-man.sh $(B)/sluicectl 8 "control the Sluice node agent" >$(DESTDIR)$(MANDIR)/sluicectl.8
	$(Q)scripts/gen-man.sh $(B)/sluice-http 8 "the Sluice L7 helper" >$(DESTDIR)$(MANDIR)/sluice-http.8
	$(Q)install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
