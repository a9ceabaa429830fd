"""Side-by-side benchmarks; each prints its figures. Run them all with `make bench`."""
