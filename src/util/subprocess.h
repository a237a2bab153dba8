// subprocess.h: running another vkpref command as a child process of this
// binary (`vkpref compare` runs train, eval and sample this way, so each
// stays the one tested code path and a crash or die() in one ends only it).
#pragma once
#include <stddef.h>

// Runs /proc/self/exe with args (args[0] is the command, e.g. "train"; NULL
// terminated) and waits. The child inherits stdin, stdout, stderr and the
// environment, so its messages and progress bars stream through unchanged.
// Returns its exit status (0..255; 128 + N when killed by signal N), or -1
// with err when it could not be started.
int run_self(char* const args[], char* err, size_t errlen);

// The command line a user could paste into a POSIX shell to repeat it:
// "vkpref train --prompt 'a photo of a bag' ..." (arguments needing it are
// single-quoted). malloc'ed.
char* command_line_text(char* const args[]);
