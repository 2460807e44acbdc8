#ifndef CHELIOS_PROCESS_H
#define CHELIOS_PROCESS_H
// Process-management calls Swift cannot import (prctl is variadic). No FFmpeg here: the orchestrator uses it.
#ifdef __linux__
#include <sys/prctl.h>
#endif

/// Makes the calling process the reaper of its orphaned descendants (Linux PR_SET_CHILD_SUBREAPER):
/// a grandchild whose parent exits (a daemon that double-forks with setsid) is reparented to it instead of init.
/// Returns 0 on success, -1 where unsupported or refused.
static inline int helios_become_child_subreaper(void) {
#if defined(__linux__) && defined(PR_SET_CHILD_SUBREAPER)
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#else
    return -1;
#endif
}
#endif
