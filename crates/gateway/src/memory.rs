//! Handing the memory a configuration load freed back to the system.
//!
//! A load parses its documents one at a time and keeps what the next reload reuses (the
//! typed objects, the compiled routes), so its peak is mostly what the gateway keeps. What
//! it frees is the last load's: the objects and routes a reload replaced, the parsed values
//! of the documents it read, the table swapped out. glibc's allocator keeps freed memory in
//! its arenas, so without help the process would stay at its highest point for good (before
//! documents were parsed one at a time, 10,000 SeldonDeployments peaked at 803 MB resident
//! for a table of 93 MB). After each load sluice asks it to return its free pages.

/// Return the allocator's free pages to the system. With glibc, `malloc_trim`; elsewhere
/// nothing (other allocators return memory by themselves).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    trim();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() {
    // SAFETY: malloc_trim takes no pointer and only walks glibc's own arenas under their
    // locks; glibc documents it as callable from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
