// bench_sample.h: `vkpref bench sample`: the time of one denoising step (the
// recording `vkpref sample` replays, sample/generator.h), with guidance when
// --cfg > 1, and its throughput, achieved GFLOP/s and device memory.
#pragma once

// argv[0] is "sample"; returns the process exit code.
int bench_sample(int argc, char** argv);
