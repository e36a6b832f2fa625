// CSpindle: the only C in Spindle's library targets.
//
// Everything Swift cannot express (or cannot express cheaply) lives behind these headers:
//   spindle_context.h   boost.context's fcontext switch (jump/make/ontop) and Swift's
//                       exclusivity-state swap hooks
//   spindle_thread.h    per-thread slots read on the fast path (current scheduler, run clock)
//   spindle_overflow.h  guard-page registry and the SIGSEGV handler that names an overflowing fiber
//   spindle_watchdog.h  the CPU-hog watchdog's capture of a worker thread (backtrace, fiber)
//   spindle_alloc.h     which allocator is active and its statistics
//
// Symbols defined here are prefixed `spindle_`; Swift calls them module-qualified
// (`CSpindle.spindle_…`), so `grep CSpindle` lists every crossing.
#ifndef CSPINDLE_H
#define CSPINDLE_H

#include "spindle_context.h"
#include "spindle_thread.h"
#include "spindle_overflow.h"
#include "spindle_watchdog.h"
#include "spindle_alloc.h"
#include "spindle_sys.h"
#include "spindle_uring.h"

#endif
