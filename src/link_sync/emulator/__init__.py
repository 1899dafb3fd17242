"""A PrusaLink printer emulator (Buddy firmware and Raspberry-Pi PrusaLink), for tests,
benchmarks and `link-sync demo`."""
