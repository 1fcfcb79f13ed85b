fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    iphone_import::cli::main()
}

/// glibc gives each thread that allocates concurrently its own malloc arena (up to 8 per core);
/// the copy's writer threads each held one, which raised a large first pull's peak RSS.
/// Two arenas keep allocation concurrent enough for our few threads.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    // SAFETY: mallopt only sets an allocator tunable; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
