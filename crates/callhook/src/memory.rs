//! Giving memory back. mimalloc (the binary's allocator) keeps the pages a thread freed in that
//! thread's heap until the thread allocates again; a worker that goes idle after a burst of
//! large answers would hold them indefinitely. Each runtime worker therefore collects its heap
//! when it parks (goes idle), at most once a second, and freed memory returns to the system.

use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    static LAST_COLLECT: Cell<Option<Instant>> = const { Cell::new(None) };
}

const EVERY: Duration = Duration::from_secs(1);

/// Collects this thread's mimalloc heap if it has not done so within the last second. Cheap
/// when called often: the check is a thread-local read.
pub fn collect_when_idle() {
    let due = LAST_COLLECT.with(|last| {
        let now = Instant::now();
        match last.get() {
            Some(t) if now.duration_since(t) < EVERY => false,
            _ => {
                last.set(Some(now));
                true
            }
        }
    });
    if due {
        // SAFETY: mi_collect only walks and trims the calling thread's own heap and returns
        // freed arena memory to the OS; it has no preconditions. Without mimalloc as the
        // global allocator it trims mimalloc's (then unused) heap and is harmless.
        unsafe { libmimalloc_sys::mi_collect(false) };
    }
}

/// The multi-threaded runtime callhook runs on: workers give freed memory back when idle.
pub fn runtime_builder() -> tokio::runtime::Builder {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    b.enable_all().on_thread_park(collect_when_idle);
    b
}

/// `mi_option_purge_delay` in mimalloc.h's `mi_option_e` (the one after
/// `mi_option_eager_commit_delay`, which libmimalloc-sys exports as 14).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// For `callhook simulate`: keep freed memory mapped instead of purging it after 10 ms. The
/// simulator builds and drops a part's plan (tens of MB of JSON values) over and over; with
/// purging, each new part faulted in and zeroed fresh pages, a third of the run's CPU time.
/// Its memory stays bounded by the two parts it holds at once.
pub fn keep_freed_memory() {
    // SAFETY: mi_option_set stores an option value; -1 for the purge delay means "never
    // purge", a documented setting. Without mimalloc as the allocator it is unused.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}
