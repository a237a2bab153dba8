// bench_train.h: `vkpref bench train`: the time of one training step (the
// recording `vkpref train` replays, train/step.h) on random inputs of the
// model's shape, with its throughput, achieved GFLOP/s and device memory.
#pragma once

// argv[0] is "train"; returns the process exit code.
int bench_train(int argc, char** argv);
