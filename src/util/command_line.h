// command_line.h: command lines as a user would type them (`vkpref compare`
// records each step it runs this way, so it can be repeated by hand).
#pragma once

// The command line a user could paste into a POSIX shell to repeat it:
// "vkpref train --prompt 'a photo of a bag' ..." (arguments needing it are
// single-quoted). malloc'ed.
char* command_line_text(char* const args[]);
