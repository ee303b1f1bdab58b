# The Debian package: `make deb` builds dist/hal0d_VERSION_all.deb from a copy of the tree
# (dpkg-buildpackage writes ../*.deb and leaves debian/hal0d/ behind, so never in the checkout),
# after installing its build dependencies from debian/control, then runs lintian on it.
.PHONY: deb deps-deb

DEB_BUILD := $(BUILD)/deb

deps-deb:
	@tools/apt-install.sh requirements/apt-deb.txt

deb: deps-deb
	@tools/build-deb.sh $(DEB_BUILD) dist
