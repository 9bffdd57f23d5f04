#!/bin/sh
# Fetches Fashion-MNIST (Zalando, MIT licence; 60,000 + 10,000 images, 31 MB)
# from Debian's `dataset-fashion-mnist` package into data/fashion-mnist/, for
# examples/lenet_fashion.dl. Needs apt-get (Debian or Ubuntu) and dpkg-deb.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download dataset-fashion-mnist >/dev/null)
dpkg-deb -x "$tmp"/dataset-fashion-mnist_*_all.deb "$tmp/out"
mkdir -p data/fashion-mnist
cp "$tmp"/out/usr/share/datasets/fashion-mnist/*.gz data/fashion-mnist/
ls -l data/fashion-mnist
