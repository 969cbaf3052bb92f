# otpsv: two commands do everything on a fresh machine with Go:
#   make run    builds otpsv and runs the demo tree (no root needed)
#   make test   runs every test, unit and black-box, with the race detector
GO          ?= go
BIN         ?= bin/otpsv
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
DEMO_STATE  ?= .state/demo
# Installation (make install, make uninstall): DESTDIR stages it.
PREFIX      ?= /usr/local
DESTDIR     ?=
# Generated from the CLI definition by bin/otpsv (make man, completions).
MAN         ?= man/otpsv.1
COMPDIR     ?= bin/completion
# The Debian package (make deb): nfpm pinned, run through go run.
NFPM        ?= github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
DIST        ?= dist
DEBDIR      ?= bin/deb
DEB_GOARCH  ?= $(shell $(GO) env GOARCH)
# Debian versions must start with a digit and sort in release order:
# v1.2.0-3-gabc1234-dirty gives 1.2.0+3.gabc1234.dirty, an untagged
# abc1234-dirty (no tag: no "N.N") 0.0.0+git.abc1234.dirty.
DEB_VERSION ?= $(shell echo '$(VERSION)' | sed -e 's/^v\([0-9]\)/\1/' -e '/^[0-9][0-9]*\.[0-9]/!{s/^/0.0.0+git./;s/-/./g;}' -e 's/-/+/' -e 's/-/./g')

.PHONY: build run test test-short lint bench bench-compare clean man completions install uninstall deb deb-tools

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/otpsv

run: build
	@echo "demo tree: examples/demo.yaml; state and worker logs in $(DEMO_STATE); Ctrl-C stops it in order"
	$(BIN) validate -c examples/demo.yaml --state-dir $(DEMO_STATE)
	$(BIN) daemon -c examples/demo.yaml --state-dir $(DEMO_STATE)

test:
	$(GO) test -race -shuffle=on -count=1 -timeout=10m ./...

test-short:
	$(GO) test -short -count=1 ./...

lint:
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Go benchmarks, then the side-by-side harness of ../shared/bench for otpsv.
bench: build
	$(GO) test -run='^$$' -bench=. -benchmem ./actors/... ./persistence/... ./config/...
	OTPSV=$(CURDIR)/$(BIN) bench/run.sh

man: build
	@mkdir -p $(dir $(MAN))
	$(BIN) man >$(MAN)

completions: build
	@mkdir -p $(COMPDIR)
	$(BIN) completion bash >$(COMPDIR)/otpsv.bash
	$(BIN) completion zsh >$(COMPDIR)/_otpsv
	$(BIN) completion fish >$(COMPDIR)/otpsv.fish

# The binary, the man page and the completions, nothing else. zsh's
# site-functions suits a PREFIX of /usr/local; the Debian package uses
# Debian's vendor-completions instead.
install: build man completions
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/otpsv
	install -D -m 0644 $(MAN) $(DESTDIR)$(PREFIX)/share/man/man1/otpsv.1
	install -D -m 0644 $(COMPDIR)/otpsv.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/otpsv
	install -D -m 0644 $(COMPDIR)/_otpsv $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_otpsv
	install -D -m 0644 $(COMPDIR)/otpsv.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/otpsv.fish

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/otpsv \
		$(DESTDIR)$(PREFIX)/share/man/man1/otpsv.1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/otpsv \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_otpsv \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/otpsv.fish

# $(DIST)/otpsv_<version>_<arch>.deb, laid out by nfpm.yaml. The packaged
# binary is static (CGO_ENABLED=0), so it runs on any Debian release;
# DEB_GOARCH=arm64 cross-builds it (the man page and completions come
# from the host's bin/otpsv).
deb: man completions
	@mkdir -p $(DEBDIR) $(DIST)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(DEB_GOARCH) $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(DEBDIR)/otpsv ./cmd/otpsv
	gzip -9n <$(MAN) >$(DEBDIR)/otpsv.1.gz
	OTPSV_DEB_VERSION='$(DEB_VERSION)' OTPSV_DEB_ARCH=$(DEB_GOARCH) OTPSV_DEBDIR=$(DEBDIR) OTPSV_COMPDIR=$(COMPDIR) \
		$(GO) run $(NFPM) package --config nfpm.yaml --packager deb --target $(DIST)/

# Fetches and builds the pinned nfpm (deb does it too, the first time:
# about a minute).
deb-tools:
	$(GO) run $(NFPM) --version >/dev/null

clean:
	rm -rf bin .state man dist
