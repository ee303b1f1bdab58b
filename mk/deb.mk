# The Debian packages: `make deb` builds dist/hal0d_VERSION_all.deb (and hal0-applet_…) from a copy of the tree
# (dpkg-buildpackage writes ../*.deb and leaves debian/hal0d/ behind, so never in the checkout),
# after installing its build dependencies from debian/control, and lets it into dist/ only
# once lintian passes. It is rebuilt when a tracked file changed since.
.PHONY: deb deps-deb

DEB_VERSION := $(shell awk -F'[()]' 'NR == 1 { print $$2 }' debian/changelog)
DEB := dist/hal0d_$(DEB_VERSION)_all.deb
# (make cannot name files with spaces; only test data has such names)
DEB_INPUTS := $(shell git ls-files 2>/dev/null | grep -v ' ')

deps-deb:
	@tools/apt-install.sh requirements/apt-deb.txt

$(DEB): $(DEB_INPUTS) | deps-deb
	@tools/build-deb.sh $(BUILD)/deb dist

deb: $(DEB)
