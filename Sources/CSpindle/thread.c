// Storage for the per-thread slots declared in spindle_thread.h.
#include "spindle_thread.h"

__thread void *spindle_tls_scheduler __attribute__((tls_model("initial-exec"))) = 0;
__thread void *spindle_tls_reactor __attribute__((tls_model("initial-exec"))) = 0;
__thread spindle_run_clock_t spindle_tls_run_clock __attribute__((tls_model("initial-exec"))) = {0, INT64_MIN, 0};
