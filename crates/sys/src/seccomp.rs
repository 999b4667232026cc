//! Loading a classic-BPF seccomp program that was compiled earlier (by libseccomp, then kept).

use std::io;

/// `struct sock_fprog`: the program's length in instructions and a pointer to them.
#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const u8,
}

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;

/// Installs `program` (classic BPF, 8 bytes per instruction, as `seccomp_export_bpf` writes it)
/// as a seccomp filter of the calling thread, with no flags. The caller must have set
/// no_new_privs or hold CAP_SYS_ADMIN, as for any filter.
pub fn load_seccomp_program(program: &[u8]) -> io::Result<()> {
    if program.is_empty()
        || !program.len().is_multiple_of(8)
        || program.len() / 8 > u16::MAX as usize
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a seccomp program of {} bytes is not whole BPF instructions",
                program.len()
            ),
        ));
    }
    let fprog = SockFprog {
        len: (program.len() / 8) as u16,
        filter: program.as_ptr(),
    };
    // SAFETY: `fprog` points at `program`, which outlives the call and holds `len` whole
    // 8-byte `struct sock_filter` instructions; the kernel copies and verifies the program
    // before the call returns and keeps no pointer to our memory.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            0 as libc::c_ulong,
            &fprog as *const SockFprog,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
