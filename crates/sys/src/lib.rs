//! The only crate in berth that contains `unsafe` code.
//!
//! Each function here is a thin, documented wrapper over one system call that neither `nix` nor
//! the standard library exposes safely. Every `unsafe` block states the invariant that makes it
//! sound. Callers get a safe API with `io::Result` errors.

mod bpf;
mod mount;
mod pidfd;
mod process;
mod sched;
mod seccomp;
mod socket;
mod tty;
mod xattr;

pub use bpf::{attach_device_program, BpfInsn};
pub use mount::{clone_detached_readonly_bind, MountFd};
pub use pidfd::{pidfd_alive, pidfd_open};
pub use process::{close_fds_on_exec_from, duplicate_raw_fd, fork_into, setdomainname, ForkResult};
pub use sched::{ioprio_set, sched_setattr, SchedAttr};
pub use seccomp::load_seccomp_program;
pub use socket::recv_with_fd;
pub use tty::{set_controlling_terminal, set_window_size, window_size};
pub use xattr::fsetxattr;
