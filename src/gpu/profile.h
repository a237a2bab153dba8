// profile.h: per-kernel GPU timing. Off by default and free when off:
// the recorder (cmd.c) only calls in here when a Cmd was begun while profiling
// was on (c->prof != NULL).
//
// On: $VKPREF_PROFILE=1 in the environment, or profile_enable() (the benches'
// --profile). With the variable, a command that prints no table itself (`vkpref
// train`, say) writes the totals of its whole run to stderr at exit. Every recorded command (dispatch, fill, copy) is bracketed by two
// vkCmdWriteTimestamp (top of pipe before, bottom of pipe after); after each
// cmd_submit the timestamps are read back and added, per (shader, op label), to
// one process-wide table that profile_print() writes: calls, total ms, ms per
// replay, % of all timed commands and, where the op told the recorder its FLOPs
// (cmd_note_flops: conv2d, matmul), GFLOP/s. Needs timestampValidBits > 0 on the
// queue family; otherwise profiling says so once and stays off.
//
// Timestamps serialise nothing on lavapipe (it runs dispatches one after the
// other anyway; measured: timestamps agree with wall
// time within 1%), but on a GPU they break the overlap of independent dispatches,
// so read a GPU's table as per-kernel cost, not as a schedule.
#pragma once
#include <stdbool.h>
#include <stdio.h>
#include <vulkan/vulkan.h>

struct GpuContext;
typedef struct CmdProfile CmdProfile;

// True when profiling is on ($VKPREF_PROFILE=1 or profile_enable()).
bool profile_enabled(void);
void profile_enable(void);
// Forgets what was accumulated (e.g. after warm-up steps).
void profile_reset(void);
// Writes the table, rows sorted by total time, at most max_rows (others summed);
// steps: replays of the step the totals cover (per-step columns); step_s > 0:
// the wall-clock step time, printed next to the sum of the timed commands.
void profile_print(FILE* out, int max_rows, int steps, double step_s);

// Recorder hooks (cmd.c only). profile_cmd_new returns NULL when timestamps are unsupported.
CmdProfile* profile_cmd_new(struct GpuContext* g);
void profile_cmd_segment(CmdProfile* p, VkCommandBuffer cb, int seg, int max_commands);
// The table row of a command, taken when it is recorded (the label may not outlive that).
int profile_cmd_row(const char* name, const char* label);
void profile_cmd_before(CmdProfile* p, VkCommandBuffer cb, int seg, int row, double flops);
void profile_cmd_after(CmdProfile* p, VkCommandBuffer cb, int seg);
void profile_cmd_collect(CmdProfile* p);  // after the fence: add this replay's times to the table
void profile_cmd_free(CmdProfile* p);
